"""Render the repository from cluster.yaml, add the skeleton files, commit if asked."""

import json
import sys
from pathlib import Path

from generator import scaffold

# On a line of its own: a traceback quotes the line that failed, never this one.
CONTEXT = {{ cookiecutter | jsonify | tojson }}

sys.exit(scaffold.post_gen(json.loads(CONTEXT), Path.cwd()))
