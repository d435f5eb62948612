"""`clusterforge new`, `render`, `render --check` and `seed`, run in-process."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from generator import cli, pki, repo, tools, yamlio
from generator.render import layout

EXAMPLE = cli.example_text()


def new_repo(tmp_path: Path, capsys) -> Path:
    dest = tmp_path / "lab"
    assert cli.main(["new", str(dest), "--example", "--no-input"]) == 0
    capsys.readouterr()
    return dest


def committed_files(root: Path) -> list[Path]:
    """Every file git would commit (the repository's own .gitignore applies)."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--cached", "--exclude-standard", "-z"],
        check=True, capture_output=True, text=True,
    ).stdout
    return [root / p for p in out.split("\0") if p]


def test_new_writes_inventory_rendering_and_private_secrets(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    inventory = (dest / "cluster.yaml").read_text()
    assert inventory == repo.SCHEMA_LINE + EXAMPLE  # the user's file, plus the editor schema line
    assert (dest / layout.LOCK_FILE).exists() and (dest / layout.CILIUM_VALUES).exists()
    secrets_file = dest / layout.SECRETS_FILE
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    values = repo.read_secrets(dest)
    assert values.bootstrap_token and len(values.certificate_key) == 64


def test_secrets_are_ignored_by_git_and_appear_in_no_committed_file(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    values = repo.read_secrets(dest)
    files = committed_files(dest)
    assert dest / layout.SECRETS_FILE not in files
    assert dest / "cluster.yaml" in files and dest / layout.LOCK_FILE in files
    for path in files:
        text = path.read_text()
        for secret in (values.bootstrap_token, values.certificate_key, *values.pki.values()):
            assert secret.strip() not in text, f"{path} contains a secret"
        assert "PRIVATE KEY" not in text, path


def test_render_check_is_clean_then_lists_stale_files(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    assert cli.main(["render", "-C", str(dest), "--check"]) == 0
    inventory = dest / "cluster.yaml"
    inventory.write_text(inventory.read_text().replace("version: 1.19.6", "version: 1.20.0"))
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert cli.main(["render", "-C", str(dest), "--check"]) == 1
    assert f"stale: {layout.CILIUM_BOOTSTRAP}" in capsys.readouterr().out  # the pinned chart version changed
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before  # --check changed nothing
    assert cli.main(["render", "-C", str(dest)]) == 0
    assert cli.main(["render", "-C", str(dest), "--check"]) == 0


def test_render_refuses_to_overwrite_a_hand_edit(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    edited = dest / layout.CILIUM_VALUES
    edited.write_text(edited.read_text() + "# my tweak\n")
    inventory = dest / "cluster.yaml"
    inventory.write_text(inventory.read_text().replace("hubble: true", "hubble: false"))
    assert cli.main(["render", "-C", str(dest)]) == 1
    assert layout.CILIUM_VALUES in capsys.readouterr().err
    assert edited.read_text().endswith("# my tweak\n")
    assert cli.main(["render", "-C", str(dest), "--force"]) == 0
    assert "# my tweak" not in edited.read_text()


def test_new_with_bad_inventory_leaves_nothing_behind(tmp_path, capsys):
    bad = tmp_path / "cluster.yaml"
    bad.write_text(EXAMPLE.replace("ip: 192.168.100.12,", "ip: 192.168.100.11,"))
    dest = tmp_path / "lab"
    assert cli.main(["new", str(dest), "--inventory", str(bad), "--no-input"]) == 2
    err = capsys.readouterr().err
    assert "cluster.yaml:" in err and "nodes[1] (cp2).ip" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.yaml"]


def test_new_refuses_a_non_empty_folder(tmp_path, capsys):
    dest = tmp_path / "lab"
    dest.mkdir()
    (dest / "notes.md").write_text("mine\n")
    assert cli.main(["new", str(dest), "--example", "--no-input"]) == 2
    assert (dest / "notes.md").read_text() == "mine\n" and len(list(dest.iterdir())) == 1


def test_seed_merges_secrets_outside_the_repository(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    values = repo.read_secrets(dest)
    out = tmp_path / "seed-cp1"
    assert cli.main(["seed", "cp1", str(out), "-C", str(dest)]) == 0
    user_data = (out / "user-data").read_text()
    assert user_data.startswith("#cloud-config\n")
    assert values.bootstrap_token in user_data and values.certificate_key in user_data
    assert values.pki["ca.key"].strip() in "\n".join(line.strip() for line in user_data.splitlines())  # cp1 gets the CAs
    assert stat.S_IMODE((out / "user-data").stat().st_mode) == 0o600
    assert yamlio.loader().load((out / "network-config").read_text())


def test_seed_inside_the_repository_is_refused_except_in_seeds(tmp_path, capsys):
    dest = new_repo(tmp_path, capsys)
    assert cli.main(["seed", "cp1", str(dest / "nodes" / "x"), "-C", str(dest)]) == 2
    assert "hold secrets" in capsys.readouterr().err
    assert cli.main(["seed", "haproxy1", str(dest / layout.SEEDS_DIR / "haproxy1"), "-C", str(dest)]) == 0
    assert dest / layout.SEEDS_DIR / "haproxy1" / "user-data" not in committed_files(dest)


def test_join_seeds_carry_the_hash_of_the_generated_ca(tmp_path, capsys):
    """No hand-copied hash: render made the CA, so a join seed can be built before any VM boots."""
    dest = new_repo(tmp_path, capsys)
    values = repo.read_secrets(dest)
    assert sorted(values.pki) == sorted(pki.FILES)
    assert values.ca_cert_hash == pki.ca_cert_hash(values.pki["ca.crt"])
    assert cli.main(["seed", "worker1", str(tmp_path / "w1"), "-C", str(dest)]) == 0
    worker = (tmp_path / "w1" / "user-data").read_text()
    assert values.ca_cert_hash in worker and "PRIVATE KEY" not in worker  # no CA key but on cp1
    # Rendering again keeps the CA: the cluster's identity never changes under it.
    assert cli.main(["render", "-C", str(dest)]) == 0
    assert repo.read_secrets(dest) == values


def test_a_cluster_whose_ca_kubeadm_made_keeps_its_hash(tmp_path, capsys):
    """Secrets of before render made CAs: no CA is invented; the join needs the copied hash."""
    dest = new_repo(tmp_path, capsys)
    secrets_file = dest / layout.SECRETS_FILE
    data = yamlio.loader().load(secrets_file.read_text())
    del data["pki"]
    data["caCertHash"] = None
    secrets_file.write_text(yamlio.dump({k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}))
    assert cli.main(["seed", "worker1", str(tmp_path / "w1"), "-C", str(dest)]) == 2
    assert "caCertHash" in capsys.readouterr().err
    secrets_file.write_text(secrets_file.read_text().replace("caCertHash: null", "caCertHash: sha256:" + "0" * 64))
    assert cli.main(["render", "-C", str(dest)]) == 0
    assert repo.read_secrets(dest).pki == {}  # a CA hash of its own: render adds no CA
    assert cli.main(["seed", "worker1", str(tmp_path / "w1"), "-C", str(dest)]) == 0
    assert "sha256:" + "0" * 64 in (tmp_path / "w1" / "user-data").read_text()


@pytest.mark.tools
@pytest.mark.parametrize("builder", ["cloud-localds", "genisoimage"])
def test_seed_iso_is_a_nocloud_volume(tmp_path, capsys, need_tool, monkeypatch, builder):
    need_tool(builder)
    if builder == "genisoimage":  # hide cloud-localds, which is preferred when present
        real = tools.find_tool
        monkeypatch.setattr(tools, "find_tool", lambda name: None if name == "cloud-localds" else real(name))
    dest = new_repo(tmp_path, capsys)
    out = tmp_path / "seed-lb"
    assert cli.main(["seed", "haproxy1", str(out), "-C", str(dest), "--iso"]) == 0
    iso = (out / "seed.iso").read_bytes()
    assert b"cidata" in iso[32768:34816].lower()  # the ISO 9660 volume label NoCloud looks for


@pytest.mark.tools
def test_secrets_are_sops_encrypted_to_the_age_recipients(tmp_path, capsys, need_tool, monkeypatch):
    age_keygen, _sops = need_tool("age-keygen"), need_tool("sops")
    key = tmp_path / "age.key"
    subprocess.run([str(age_keygen), "-o", str(key)], check=True, capture_output=True)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if line.startswith("# public key: "))
    inventory = tmp_path / "cluster.yaml"
    inventory.write_text(EXAMPLE.replace("\ngitops:", f"\nsecrets:\n  ageRecipients: [{recipient}]\n\ngitops:"))
    dest = tmp_path / "lab"
    assert cli.main(["new", str(dest), "--inventory", str(inventory), "--no-input"]) == 0
    stored = (dest / layout.SECRETS_FILE).read_text()
    assert "sops:" in stored and recipient in stored and "ENC[AES256_GCM" in stored

    assert cli.main(["seed", "cp1", str(tmp_path / "no-key"), "-C", str(dest)]) == 1  # no identity: sops refuses
    assert "Failed to get the data key" in capsys.readouterr().err
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    values = repo.read_secrets(dest)
    assert values.bootstrap_token not in stored and values.certificate_key not in stored
    assert values.pki and "PRIVATE KEY" not in stored  # the CA keys are encrypted too
    assert cli.main(["seed", "cp1", str(tmp_path / "seed"), "-C", str(dest)]) == 0
    assert values.bootstrap_token in (tmp_path / "seed" / "user-data").read_text()


def new_rack(tmp_path: Path) -> Path:
    """A repository of the office-rack variant, whose peers have BGP passwords."""
    inventory = tmp_path / "cluster.yaml"
    inventory.write_text((Path(__file__).parent / "data" / "variant.yaml").read_text())
    dest = tmp_path / "rack"
    assert cli.main(["new", str(dest), "--inventory", str(inventory), "--no-input"]) == 0
    return dest


def test_bgp_secrets_come_from_the_secrets_file_only(tmp_path, capsys):
    dest = new_rack(tmp_path)
    capsys.readouterr()
    password = repo.read_secrets(dest).bgp_passwords["bgp-tor-a"]
    assert cli.main(["bgp-secrets", "-C", str(dest)]) == 0
    secrets = list(yamlio.loader().load_all(capsys.readouterr().out))
    assert [(s["kind"], s["metadata"]["name"], s["metadata"]["namespace"], s["stringData"]["password"]) for s in secrets] == [
        ("Secret", "bgp-tor-a", "kube-system", password)
    ]
    assert all(password not in p.read_text() for p in committed_files(dest))


def test_bgp_secrets_name_a_password_missing_from_the_secrets_file(tmp_path, capsys):
    dest = new_rack(tmp_path)
    secrets_file = dest / layout.SECRETS_FILE
    password = repo.read_secrets(dest).bgp_passwords["bgp-tor-a"]
    secrets_file.write_text(secrets_file.read_text().replace(f"bgp-tor-a: {password}", "other: x"))
    capsys.readouterr()
    assert cli.main(["bgp-secrets", "-C", str(dest)]) == 2
    assert capsys.readouterr().err == (
        f"clusterforge: {layout.SECRETS_FILE} has no bgpPasswords entry for bgp-tor-a: "
        "run `clusterforge render`, which adds a password for every authSecretRef\n"
    )
