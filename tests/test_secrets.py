"""The secrets file read as hostile input, and the redaction of its values from
everything clusterforge prints. Every case runs the real command in-process and
compares its exact stderr; no output may contain a value of the secrets file."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import cli, repo, tools
from generator.errors import ClusterforgeError, ToolFailed
from generator.render import layout
from generator.secrets import ClusterSecrets, Redactor, named_values, redactor

HEADER = "# Secrets of this cluster: never commit this file in plaintext.\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rendered") / "lab"
    repo.new(path, cli.example_text())
    return path


@pytest.fixture
def lab(rendered: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "lab"
    shutil.copytree(rendered, dest)
    return dest


def secrets_text(lab: Path) -> str:
    return (lab / layout.SECRETS_FILE).read_text(encoding="utf-8")


def values_of(lab: Path) -> list[str]:
    """Every value of the lab's secrets file, and its parts that show up alone."""
    return list(named_values(repo.read_secrets(lab)).values())


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


COMMANDS = {
    "seed": lambda lab: ["seed", "cp1", str(lab.parent / "seed-out"), "-C", str(lab)],
    "bgp-secrets": lambda lab: ["bgp-secrets", "-C", str(lab)],
    "render": lambda lab: ["render", "-C", str(lab)],
}


# --- a broken secrets file: located, never quoted ---------------------------------------


def ca_line(lab: Path) -> str:
    """The caCertHash line, which render fills from the CA it generates (line 4)."""
    return f"caCertHash: {repo.read_secrets(lab).ca_cert_hash}"


def break_file(lab: Path, old: str, new: str) -> list[str]:
    """Edit the secrets file; returns the values it held, which no output may show."""
    values = values_of(lab)
    text = secrets_text(lab)
    assert old in text
    (lab / layout.SECRETS_FILE).write_text(text.replace(old, new, 1), encoding="utf-8")
    return values


@pytest.mark.parametrize("command", list(COMMANDS))
def test_yaml_error_is_located_without_the_line(lab: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The parser's own message would quote `certificateKey: [<the key>`."""
    values = break_file(lab, "certificateKey: ", "certificateKey: [")
    code, err, out = run(COMMANDS[command](lab), capsys)
    path = lab / layout.SECRETS_FILE
    assert (code, err, out) == (2, [f"{path}:4: not valid YAML: expected ',' or ']', but got ':'", "1 error"], "")
    assert not any(value in "\n".join(err) for value in values)


def test_duplicate_key_does_not_quote_either_value(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = repo.read_secrets(lab).bootstrap_token
    values = break_file(lab, ca_line(lab), f"{ca_line(lab)}\nbootstrapToken: {token[::-1]}")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    path = lab / layout.SECRETS_FILE
    assert (code, err) == (2, [f"{path}:5: not valid YAML: found duplicate key '...' with value '...' (original value: '...')", "1 error"])
    assert not any(value in "\n".join(err) or value[::-1] in "\n".join(err) for value in values)


def test_a_scalar_that_is_no_date_is_not_quoted(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_file(lab, ca_line(lab), "caCertHash: 2024-02-30")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    path = lab / layout.SECRETS_FILE
    message = "'...' is not a valid YAML timestamp (day is out of range for month); quote it if it is text"
    assert (code, err) == (2, [f"{path}:4: not valid YAML: {message}", "1 error"])


def test_control_character(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = break_file(lab, ca_line(lab), "caCertHash: \x00null")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    path = lab / layout.SECRETS_FILE
    assert (code, err) == (2, [f"{path}:4: not valid YAML: character #x0000 is not allowed", "1 error"])
    assert not any(value in "\n".join(err) for value in values)


def test_bad_values_are_named_by_key_and_line_only(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every bad value at once; a token with a trailing newline is no token (fullmatch, not `$`)."""
    values = repo.read_secrets(lab)
    text = HEADER + (
        f'bootstrapToken: "{values.bootstrap_token}\\n"\n'
        f"certificateKey: {values.certificate_key[:-1]}\n"
        f"caCertHash: sha256:{values.certificate_key}0\n"
        "bgpPasswords: {tor: ''}\n"
    )
    (lab / layout.SECRETS_FILE).write_text(text, encoding="utf-8")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    path = lab / layout.SECRETS_FILE
    assert (code, err) == (
        2,
        [
            f"{path}:2: bootstrapToken: not a kubeadm token ([a-z0-9]{{6}}.[a-z0-9]{{16}})",
            f"{path}:3: certificateKey: not 64 hex characters",
            f"{path}:4: caCertHash: not sha256:<64 hex characters>",
            f"{path}:5: bgpPasswords: must map secret names to non-empty strings",
            "4 errors",
        ],
    )


def test_not_a_mapping(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / layout.SECRETS_FILE).write_text(HEADER + "- one\n- two\n", encoding="utf-8")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    path = lab / layout.SECRETS_FILE
    assert (code, err) == (2, [f"{path}: expected a mapping of secrets (bootstrapToken:, certificateKey:, ...)", "1 error"])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_not_utf8(lab: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A Latin-1 é in a comment (byte 0xe9) on line 2."""
    values = values_of(lab)
    raw = (lab / layout.SECRETS_FILE).read_bytes()
    (lab / layout.SECRETS_FILE).write_bytes(raw.replace(b"\nbootstrapToken", "\n# clé\nbootstrapToken".encode("latin-1"), 1))
    code, err, _ = run(COMMANDS[command](lab), capsys)
    path = lab / layout.SECRETS_FILE
    offset = len(HEADER) + len("# cl")
    assert (code, err) == (2, [f"{path}:2: not UTF-8 text (byte {offset})", "1 error"])
    assert not any(value in "\n".join(err) for value in values)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_directory(lab: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / layout.SECRETS_FILE).unlink()
    (lab / layout.SECRETS_FILE).mkdir()
    code, err, _ = run(COMMANDS[command](lab), capsys)
    assert (code, err) == (2, [f"{lab / layout.SECRETS_FILE}: is a directory, not a secrets file", "1 error"])


@pytest.mark.parametrize("make", [lambda path: path.symlink_to("/dev/zero"), os.mkfifo], ids=["device", "fifo"])
def test_not_a_regular_file(lab: Path, make: Callable[[Path], None], capsys: pytest.CaptureFixture[str]) -> None:
    """/dev/zero never ends, a FIFO blocks the reader until someone writes."""
    (lab / layout.SECRETS_FILE).unlink()
    make(lab / layout.SECRETS_FILE)
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    assert (code, err) == (2, [f"{lab / layout.SECRETS_FILE}: is not a regular file", "1 error"])


def test_a_huge_file_is_read_up_to_the_limit_only(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sparse 2 GB file: reading stops one byte past the limit."""
    with (lab / layout.SECRETS_FILE).open("r+b") as f:
        f.truncate(2 * 1024**3)
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    assert (code, err) == (2, [f"{lab / layout.SECRETS_FILE}: is over 1000000 bytes, which no secrets file of ours is", "1 error"])


def test_bottomless_nesting(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / layout.SECRETS_FILE).write_text("bgpPasswords: " + "[" * 5000 + "\n", encoding="utf-8")
    code, err, _ = run(COMMANDS["seed"](lab), capsys)
    assert (code, err) == (2, [f"{lab / layout.SECRETS_FILE}: not valid YAML: nested deeper than the parser can follow", "1 error"])


# --- redaction ------------------------------------------------------------------------------

FAKE = ClusterSecrets(
    bootstrap_token="k3x9qa." + "8h2m4n6p0r1s3t5v",  # FAKE, made up for this test (built in two parts)
    certificate_key="3f" * 32,
    ca_cert_hash="sha256:" + "4e" * 32,
    bgp_passwords={"tor": "hunter2", "edge": "k3x9"},  # the second inside the token id
)


def test_redactor_names_each_secret() -> None:
    redact = Redactor(named_values(FAKE))
    text = f"join --token {FAKE.bootstrap_token} --discovery-token-ca-cert-hash {FAKE.ca_cert_hash} --certificate-key {'3f' * 32}"
    assert redact(text) == (
        "join --token <redacted bootstrapToken> --discovery-token-ca-cert-hash <redacted caCertHash> --certificate-key <redacted certificateKey>"
    )


def test_redactor_short_values_and_parts() -> None:
    """A token's id and secret alone, a CA hash without its prefix, a 4-character password."""
    redact = Redactor(named_values(FAKE))
    assert redact("id k3x9qa, secret 8h2m4n6p0r1s3t5v") == "id <redacted bootstrapToken id>, secret <redacted bootstrapToken secret>"
    assert redact(f"hash {'4e' * 32}") == "hash <redacted caCertHash digest>"
    assert redact("password k3x9 or hunter2") == "password <redacted bgpPasswords.edge> or <redacted bgpPasswords.tor>"


def test_redactor_overlaps_leave_nothing_behind() -> None:
    """Values that overlap in the text are one marker; no part of either remains."""
    redact = Redactor({"a": "abcdef", "b": "defxyz"})
    assert redact("..abcdefxyz..") == "..<redacted a>.."
    assert redact("aaaa") == "aaaa"
    assert Redactor({"a": "aa"})("aaaaa") == "<redacted a>"


def test_redactor_never_searches_its_own_markers() -> None:
    """A password that is part of a marker's text does not rewrite the marker."""
    redact = Redactor({"long": "0123456789", "short": "redacted"})
    assert redact("0123456789 redacted") == "<redacted long> <redacted short>"


def test_an_empty_redactor_changes_nothing(tmp_path: Path) -> None:
    assert Redactor()("anything") == "anything"
    for missing in (tmp_path / "no" / "secrets.yaml", tmp_path / ("x" * 300) / "secrets.yaml"):  # the second: a name too long
        assert redactor(missing)("anything") == "anything"


def test_the_redactor_takes_the_values_of_a_secrets_file_whose_keys_do_not_match(lab: Path) -> None:
    """Redaction needs the values, not proof that each key belongs to its certificate (that
    proof costs 0.6 CPU-s per validate): a secrets file with swapped CA keys is still redacted."""
    values = repo.read_secrets(lab)
    keys = {name: pem for name, pem in values.pki.items() if name.endswith("ca.key")}
    first, second = sorted(keys)[:2]
    path = lab / layout.SECRETS_FILE
    text = path.read_text(encoding="utf-8")
    indent = lambda pem: "\n".join("    " + line for line in pem.splitlines())  # noqa: E731  as the block scalars are written
    assert indent(keys[first]) in text and indent(keys[second]) in text
    path.write_text(text.replace(indent(keys[first]), "@@").replace(indent(keys[second]), indent(keys[first])).replace("@@", indent(keys[second])))
    with pytest.raises(ClusterforgeError, match="is not the key of"):
        repo.read_secrets(lab)  # what render and seed read is still proven
    assert redactor(path)(f"token {values.certificate_key}") == "token <redacted certificateKey>"


def test_a_tool_failure_quoting_a_secret_is_redacted(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's error printer cleans a tool's output with the repository's secrets."""
    values = repo.read_secrets(lab)
    with pytest.raises(ToolFailed) as failed:
        tools.run(["sh", "-c", f"echo 'bad token {values.bootstrap_token}' >&2; exit 3"])
    assert cli.report_error(failed.value, sys.stderr, redactor(lab / layout.SECRETS_FILE)) == 1
    err = capsys.readouterr().err
    assert err.endswith("exited 3:\nbad token <redacted bootstrapToken>\n")
    assert values.bootstrap_token.split(".")[0] not in err


def test_a_secret_pasted_into_the_inventory_is_not_echoed(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The inventory's own error quotes the value; the CLI redacts it with the repository's secrets."""
    key = repo.read_secrets(lab).certificate_key
    inventory = lab / layout.INVENTORY
    inventory.write_text(inventory.read_text().replace("name: koedo-lab", f"name: {key}", 1))
    code, err, _ = run(["render", "-C", str(lab)], capsys)
    assert code == 2
    assert err[0] == (
        "cluster.yaml:10: name: '<redacted certificateKey>' is not an RFC 1123 label (lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters)"
    )
    assert key not in "\n".join(err)
