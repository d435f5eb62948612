"""Render the repository from cluster.yaml, add the skeleton files, commit if asked."""

import json
import sys
from pathlib import Path

from generator import scaffold

sys.exit(scaffold.post_gen(json.loads({{ cookiecutter | jsonify | tojson }}), Path.cwd()))
