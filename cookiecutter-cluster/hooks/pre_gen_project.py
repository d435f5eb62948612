"""Write cluster.yaml from the answers (or the inventory given verbatim), checked as
`clusterforge check` checks it: a bad answer exits 2 and nothing is left behind."""

import json
import sys
from pathlib import Path

from generator import scaffold

sys.exit(scaffold.pre_gen(json.loads({{ cookiecutter | jsonify | tojson }}), Path.cwd()))
