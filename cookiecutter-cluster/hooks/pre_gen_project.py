"""Write cluster.yaml from the answers (or the inventory given verbatim), checked as
`clusterforge check` checks it: a bad answer exits 2 and nothing is left behind."""

import json
import sys
from pathlib import Path

from generator import scaffold

# On a line of its own: a traceback quotes the line that failed, never this one.
CONTEXT = {{ cookiecutter | jsonify | tojson }}

sys.exit(scaffold.pre_gen(json.loads(CONTEXT), Path.cwd()))
