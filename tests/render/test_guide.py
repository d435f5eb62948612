"""The operator's guide of a generated repository (README, docs/troubleshooting,
docs/decisions): every shell block parses, names only files the repository has,
both languages say the same, and the expected outputs are what the real tools
print where they run here."""

from __future__ import annotations

import os
import posixpath
import re
import signal
import subprocess
from ipaddress import IPv4Network
from pathlib import Path, PurePosixPath

import pytest

from generator import loader, tools, yamlio
from generator.explain import catalog, troubles
from generator.render import bootstrap, cilium, docs, guide, kubeadm, layout, loadbalancer, routers, tree, verification
from generator.validate import netns

from test_golden import CASES  # tests/ is on sys.path (pytest prepends it for test_golden.py)

FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.S | re.M)
EXPECTED = re.compile(r"^Expected output \(excerpt\):\n\n```text\n(.*?)^```$", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Words that stand for what the reader fills in; everything else that looks like a path must exist.
PLACEHOLDERS = {"NODE", "NAME", "NAMESPACE", "POD", "KEY", "TOKEN", "OUTDIR", "EXTERNAL-IP"}


def inventory(case: str):
    return loader.check_text(CASES[case], "cluster.yaml").inventory


def rendered(case: str) -> dict[str, str]:
    return tree.render(inventory(case))


def guide_pages(files: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in files.items() if path.endswith(".md")}


def blocks(text: str, language: str) -> list[str]:
    return [body for fence, body in FENCE.findall(text) if fence == language]


def uncommented(texts: list[str]) -> list[list[str]]:
    return [[line for line in text.splitlines() if not line.startswith("#")] for text in texts]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_shell_block_parses(case: str, need_tool) -> None:
    shellcheck = need_tool("shellcheck")
    for path, text in guide_pages(rendered(case)).items():
        script = "\n".join(blocks(text, "sh"))
        if not script:
            continue
        done = subprocess.run([str(shellcheck), "--shell=bash", "-"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, f"{case}/{path}:\n{done.stdout}"


def _repository_path(token: str, top: set[str]) -> str | None:
    """The repository path a command word names, if it names one: ./x/y, a path under one of the
    repository's top-level folders, or any x/y.ext (--flag=... included)."""
    word = token.strip("\"'`").split("=", 1)[-1]
    relative = word.startswith("./")
    word = word.removeprefix("./")
    first, _, rest = word.partition("/")
    if not rest or word.startswith(("/", "http", "~", "$")) or ":" in first or "@" in first:
        return None
    if relative or first in top or re.search(r"\.[a-z]+$", rest):
        return word.rstrip("/")
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_commands_name_only_files_the_repository_has(case: str) -> None:
    files = rendered(case)
    directories = {str(parent) for path in files for parent in PurePosixPath(path).parents}
    top = {path.split("/")[0] for path in files} | {layout.SEEDS_DIR}
    written = set()
    for path, text in files.items():
        if path.endswith("/user-data"):
            written |= {entry["path"] for entry in yamlio.loader().load(text).get("write_files", [])}
    for path, text in guide_pages(files).items():
        for block in blocks(text, "sh"):
            for token in block.split():
                rel = _repository_path(token, top)
                if rel is None or rel.split("/")[0] == layout.SEEDS_DIR or set(rel.split("/")) & PLACEHOLDERS:
                    continue  # seeds/ is where `clusterforge seed` writes
                assert rel in files or rel in directories, f"{case}/{path}: {token!r} names no file of the repository"
                for absolute in re.findall(r"(/(?:etc/clusterforge|usr/local/sbin)/[A-Za-z0-9_./-]+)", token):
                    assert absolute in written, f"{case}/{path}: no seed writes {absolute}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_links_and_anchors_resolve(case: str) -> None:
    files = rendered(case)
    directories = {str(parent) for path in files for parent in PurePosixPath(path).parents}
    for path, text in guide_pages(files).items():
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            file, _, fragment = target.partition("#")
            resolved = posixpath.normpath(str(PurePosixPath(path).parent / file)) if file else path
            assert resolved in files or resolved in directories, f"{case}/{path}: broken link {target}"
            if fragment:
                assert f'<a id="{fragment}"></a>' in files[resolved], f"{case}/{path}: no anchor {target}"


def test_japanese_pages_say_the_same() -> None:
    files = rendered("office-rack")
    for english in (layout.README, layout.TROUBLESHOOTING, layout.DECISIONS):
        en, ja = files[english], files[layout.localized(english, "ja")]
        assert re.findall(r"^#+ ", en, re.M) == re.findall(r"^#+ ", ja, re.M), english
        for fence in ("sh", "text"):  # the same commands and outputs; comments and the diagram's labels are translated
            assert uncommented(blocks(en, fence)) == uncommented(blocks(ja, fence)), english
        assert re.findall(r'<a id="[^"]+"></a>', en) == re.findall(r'<a id="[^"]+"></a>', ja), english
        prose = FENCE.sub("", ja)
        assert not re.search(r"^[A-Z][a-z]+ [a-z]+ [a-z]+ ", prose, re.M), english


def test_guide_is_english_only_by_default_and_lists_every_applicable_entry() -> None:
    inv = inventory("koedo-lab-flux")
    files = guide.render(inv)
    assert sorted(files) == [layout.DECISIONS, layout.TROUBLESHOOTING]
    for trouble in troubles.TROUBLES:
        assert (f'<a id="{trouble.id}"></a>' in files[layout.TROUBLESHOOTING]) == trouble.applies(inv), trouble.id
    assert "frr-no-routes" not in files[layout.TROUBLESHOOTING]  # the lab has no FRR router
    for topic in catalog.TOPICS:
        assert (f'<a id="{topic.id}"></a>' in files[layout.DECISIONS]) == topic.applies(inv), topic.id
    assert 'id="frr-no-routes"' in guide.render(inventory("office-rack"))[layout.TROUBLESHOOTING]


def test_every_bootstrap_step_has_a_check() -> None:
    for case in sorted(CASES):
        readme = rendered(case)[layout.README]
        steps = re.split(r"^### \d+\. ", readme, flags=re.M)[1:]
        configure_router = docs.EN["s_router"]
        for step in steps:
            title = step.splitlines()[0]
            if title == configure_router and "frr" not in step and "bird" not in step:
                continue  # a Yamaha RTX has no offline check; step 8 checks its sessions
            assert "Expected output (excerpt):" in step, f"{case}: step {title!r} has no expected output"


def test_the_sessions_excerpt_lists_every_node_and_peer() -> None:
    inv = inventory("office-rack")
    readme = rendered("office-rack")[layout.README]
    excerpts = EXPECTED.findall(readme)
    peers = next(e for e in excerpts if e.startswith("Node "))
    assert len(peers.splitlines()) == 1 + len(inv.kubernetes_nodes) * 3
    assert all(" established " in line for line in peers.splitlines()[1:])
    assert "Do not judge by Advertised: it is counted even while a session is down" in readme
    assert "[The BGP session stays Idle, Active or Connect](docs/troubleshooting.md#bgp-idle)" in readme
    assert inv.bgp is not None
    for peer in inv.bgp.peers:
        if peer.router == "frr":  # each router's excerpt is its own
            assert f"BGP router identifier {peer.address}, local AS number {peer.asn} vrf-id 0" in readme
    assert "形式）。異なる場合:" in rendered("office-rack")[layout.README_JA]


# --- expected outputs against the real tools -----------------------------------------------


def excerpt_after(text: str, command: str) -> list[str]:
    """The expected-output lines of the check whose commands include `command`."""
    for body in re.findall(r"```sh\n(.*?)```\n\nExpected output \(excerpt\):\n\n```text\n(.*?)```", text, re.S):
        if command in body[0].splitlines():
            return body[1].splitlines()
    raise AssertionError(f"no check runs {command!r}")


def strings_of(binary: Path) -> bytes:
    return binary.read_bytes()


def format_in(binary: bytes, text: str) -> bool:
    """`text` is in the binary, allowing its printf verbs (%s, %q, %d, %pI4...) to stand for any value."""
    return all(part.encode() in binary for part in re.split(r"\.\.\.|\[\.\.\.\]", text) if part.strip())


@pytest.mark.tools
def test_haproxy_excerpt_is_what_haproxy_prints(tmp_path: Path, need_tool) -> None:
    haproxy = need_tool("haproxy")
    files = rendered("koedo-lab-flux")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(files[f"{layout.loadbalancer_dir(inventory('koedo-lab-flux').loadbalancers[0])}/haproxy.cfg"])
    done = subprocess.run([str(haproxy), "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = excerpt_after(files[layout.README], "sudo haproxy -c -f /etc/haproxy/haproxy.cfg")[0]
    assert expected in (done.stdout + done.stderr).splitlines()


@pytest.mark.tools
def test_kubeadm_excerpts_are_what_kubeadm_prints(need_tool) -> None:
    inv = inventory("koedo-lab-flux")
    kubeadm_binary = need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    files = rendered("koedo-lab-flux")
    version = subprocess.run([str(kubeadm_binary), "version", "-o", "short"], capture_output=True, text=True, check=True).stdout.strip()
    assert excerpt_after(files[layout.README], "kubeadm version -o short")[0] == version
    binary = strings_of(kubeadm_binary)
    guide_text = files[layout.README] + files[layout.TROUBLESHOOTING]
    quoted = [
        "Your Kubernetes control-plane has initialized successfully!",
        "This node has joined the cluster",
        "... and a new control plane instance was created",
        "token id ... is invalid for this cluster or it has expired",
        "error downloading certs",
        "none of the public keys ... are pinned",
        "x509: certificate has expired or is not yet valid",
    ]
    for text in quoted:
        assert f"`{text}`" in guide_text, text
        assert format_in(binary, text), f"kubeadm {inv.kubernetes.version} never prints {text!r}"


@pytest.mark.tools
def test_daemon_excerpts_are_in_their_own_words(need_tool) -> None:
    inv = inventory("office-rack")
    readme = rendered("office-rack")[layout.README]
    holder = excerpt_after(readme, f"ip -brief address show dev {inv.network.interface}")
    assert holder[-1].endswith(f"({loadbalancer.VRRP_INSTANCE}) Entering MASTER STATE")
    assert format_in(strings_of(need_tool("keepalived")), ") Entering MASTER STATE")
    # The summary's layout is held against a running bgpd (below); the word for a neighbor held back by
    # FRR's eBGP policy appears only with a real session, so here it is found in bgpd itself.
    assert b"(Policy)" in strings_of(Path("/usr/lib/frr/bgpd"))
    bird = strings_of(need_tool("bird"))
    protocols = excerpt_after(readme, routers.router_checks(inv, "bird")[0])
    assert all(word.encode() in bird for word in protocols[0].split()) and b"Established" in bird
    trouble = rendered("office-rack")[layout.TROUBLESHOOTING]
    for words in ("BGP Error: ", "Received: ", "Bad peer AS"):  # what the bad-peer-AS entry quotes
        assert words.encode() in bird and words in trouble


@pytest.mark.tools
def test_cloud_init_prints_status_as_the_excerpt_shows(need_tool) -> None:
    cloud_init = need_tool("cloud-init")
    done = subprocess.run([str(cloud_init), "status"], capture_output=True, text=True)
    assert re.fullmatch(r"status: [a-z ]+", done.stdout.strip().splitlines()[-1]), done.stdout
    source = Path("/usr/lib/python3/dist-packages/cloudinit/cmd/status.py").read_text()
    assert 'DONE = "done"' in source
    assert excerpt_after(rendered("koedo-lab-flux")[layout.README], "cloud-init status --wait") == ["status: done"]


def _veth_peer(ns: netns.Netns, ip: Path) -> str:
    """The other end of the scratch namespace's veth pair (netns.scratch names it cfb...)."""
    return next(name.split("@")[0] for name in tools.run(ns.command([ip, "-brief", "link"])).stdout.split() if name.startswith("cfb"))


@pytest.mark.netns
def test_vip_holder_excerpt_is_what_iproute2_prints() -> None:
    """`ip -brief address` on the holder of the VIP, made real in a scratch namespace."""
    inv = inventory("koedo-lab-flux")
    holder = inv.loadbalancers[0]
    expected = verification.vip_holder_lines(inv, holder, True)[0].split()
    ip = tools.require("ip")
    prefix = inv.network.subnet.prefixlen
    try:
        with netns.scratch([inv.network.interface]) as ns:
            for address in (holder.ip, inv.api_server.vip):
                tools.run(ns.command([ip, "address", "add", f"{address}/{prefix}", "dev", inv.network.interface]))
            for link in (inv.network.interface, _veth_peer(ns, ip)):
                tools.run(ns.command([ip, "link", "set", link, "up"]))
            shown = tools.run(ns.command([ip, "-brief", "address", "show", "dev", inv.network.interface])).stdout.split()
    except netns.NetnsUnavailable as e:
        pytest.skip(str(e))
    shown[0] = shown[0].split("@")[0]  # a veth is shown with its peer's name
    assert expected[-1] == "..." and shown[: len(expected) - 1] == expected[:-1]


def test_cilium_and_bootstrap_excerpts_come_from_the_rendered_scripts() -> None:
    for case in ("koedo-lab-flux", "koedo-lab-auto"):
        inv, files = inventory(case), rendered(case)
        assert f'echo "Cilium {inv.cilium.version} is running. To verify:"' in files[layout.CILIUM_BOOTSTRAP]
        assert f"`Cilium {inv.cilium.version} is running.`" in files[layout.README] or inv.bootstrap.mode == "auto"
    auto = inventory("koedo-lab-auto")
    script = bootstrap.script(auto, auto.kubernetes_nodes[-1], "/etc/clusterforge/kubeadm.yaml", "/usr/local/sbin/check")
    assert 'step() { echo "$(date -Is) $*"; }' in script and 'step "done"' in script
    (last,) = excerpt_after(rendered("koedo-lab-auto")[layout.README], bootstrap.follow_command().replace("-f", "-n 1"))
    assert re.fullmatch(r"[0-9-]+T[0-9:]+\+00:00 done", last)


def test_service_excerpt_draws_from_each_pool() -> None:
    for case in sorted(CASES):
        inv = inventory(case)
        readme = rendered(case)[layout.README]
        if not inv.load_balancer_pools:
            assert docs.LB_CHECK not in readme
            continue
        rows = [line.split() for line in EXPECTED.findall(readme)[-1].splitlines()[1:]]
        assert [row[0] for row in rows] == [docs.lb_check_service(pool)[0] for pool in inv.load_balancer_pools]
        for row, pool in zip(rows, inv.load_balancer_pools, strict=True):
            assert IPv4Network(f"{row[3]}/32").subnet_of(pool.cidr)


def test_kubeadm_and_cilium_constants_in_troubleshooting() -> None:
    text = rendered("koedo-lab-flux")[layout.TROUBLESHOOTING]
    assert f"kubectl --namespace {cilium.NAMESPACE} get pods -l k8s-app=cilium -o wide" in text
    assert f"--config {troubles.KUBEADM_CONFIG}" in text and troubles.KUBEADM_CONFIG == "/etc/clusterforge/kubeadm.yaml"
    assert kubeadm.TOKEN_TTL == "24h0m0s" and "24 hours" in text  # what the join entry says



def test_a_failed_join_is_read_and_retried_as_the_bootstrap_mode_runs_it() -> None:
    """bootstrap.mode auto: the node ran `kubeadm join` itself; its log has kubeadm's output and the
    unit runs the attempts again. By hand, the operator runs the join again."""
    def join_entry(case: str) -> str:
        text = rendered(case)[layout.TROUBLESHOOTING]
        return text[text.index('<a id="join-fails">') : text.index('<a id="node-not-ready">')]

    manual, auto = join_entry("koedo-lab-flux"), join_entry("koedo-lab-auto")
    assert f"sudo kubeadm join --config {troubles.KUBEADM_CONFIG} --v=5" in manual and bootstrap.UNIT not in manual
    assert f"sudo tail -n 20 {bootstrap.LOG_FILE}" in auto and "kubeadm join --config" not in auto.split("**Fix:**")[0]
    failed = "FAILED: kubeadm join: no attempt succeeded"
    assert f"`{failed}`" in auto and f"`sudo systemctl start {bootstrap.UNIT}`" in auto
    inv = inventory("koedo-lab-auto")
    script = bootstrap.script(inv, inv.kubernetes_nodes[-1], troubles.KUBEADM_CONFIG, "/usr/local/sbin/check")
    assert "fail 'kubeadm join: no attempt succeeded'" in script and 'fail() { step "FAILED: $*"; exit 1; }' in script
    assert "(decisions.md#bootstrap-auto)" in auto and "#bootstrap-auto" not in manual


@pytest.mark.netns
@pytest.mark.tools
def test_bird_prints_its_protocols_as_the_excerpt_shows(tmp_path: Path, need_tool) -> None:
    """The rendered bird.conf run by the real BIRD in a scratch namespace holding the router's
    address: before any node connects, `show protocols` is the excerpt's table with each
    session in `start`/`Passive` (what the troubleshooting entry names)."""
    bird, birdc = need_tool("bird"), need_tool("birdc")
    inv = inventory("office-rack")
    assert inv.bgp is not None
    peer = next(p for p in inv.bgp.peers if p.router == "bird")
    conf, sock, pid = tmp_path / "bird.conf", tmp_path / "bird.ctl", tmp_path / "bird.pid"
    conf.write_text(rendered("office-rack")[layout.router_file(peer)])
    ip = tools.require("ip")
    try:
        with netns.scratch([inv.network.interface]) as ns:
            tools.run(ns.command([ip, "address", "add", f"{peer.address}/{inv.network.subnet.prefixlen}", "dev", inv.network.interface]))
            for link in ("lo", inv.network.interface, _veth_peer(ns, ip)):  # with its peer down the link has no carrier
                tools.run(ns.command([ip, "link", "set", link, "up"]))
            # BIRD forks into the background: no pipe of ours may stay open in it.
            subprocess.run(ns.command([bird, "-c", conf, "-s", sock, "-P", pid]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            try:
                shown = ""
                for _ in range(100):  # until every session waits for its node (BIRD starts them asynchronously)
                    shown = subprocess.run(ns.command([birdc, "-s", sock, "show", "protocols"]), capture_output=True, text=True).stdout
                    if shown.count(" Passive") == len(inv.kubernetes_nodes):
                        break
                    subprocess.run(["sleep", "0.1"], check=True)
            finally:
                os.kill(int(pid.read_text()), signal.SIGTERM)
    except netns.NetnsUnavailable as e:
        pytest.skip(str(e))
    clock = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}")
    real = [clock.sub("00:00:00.000", line.rstrip()) for line in shown.splitlines()[1:]]
    excerpt = [clock.sub("00:00:00.000", line) for line in verification.router_expected(inv, peer)[0]]
    assert real[:3] == excerpt[:3]  # the header and the device and kernel protocols, column for column
    waiting = [verification.bird_protocol_line(routers.bird_protocol(n.name), "BGP", "---", "start", "00:00:00.000", "Passive") for n in inv.kubernetes_nodes]
    assert real[3:] == waiting
    up = [verification.bird_protocol_line(routers.bird_protocol(n.name), "BGP", "---", "up", "00:00:00.000", "Established") for n in inv.kubernetes_nodes]
    assert excerpt[3:] == up
    assert "`start` with `Active` or `Passive`" in rendered("office-rack")[layout.TROUBLESHOOTING].replace("(BIRD: ", "")


@pytest.mark.netns
@pytest.mark.tools
def test_frr_prints_its_summary_as_the_excerpt_shows(tmp_path: Path, need_tool) -> None:
    """The rendered frr.conf run by the real bgpd (no zebra, no kernel routes) in a scratch
    namespace holding the router's address: before any node connects, `show bgp summary` has the
    excerpt's header and each neighbor `Active` in the same columns."""
    bgpd = Path("/usr/lib/frr/bgpd")  # Debian's FRR keeps its daemons off PATH
    if not bgpd.is_file():
        bgpd = need_tool("bgpd")  # skips here, fails in CI
    vtysh = need_tool("vtysh")
    inv = inventory("office-rack")
    assert inv.bgp is not None
    peer = next(p for p in inv.bgp.peers if p.router == "frr")
    conf, pid = tmp_path / "frr.conf", tmp_path / "bgpd.pid"
    conf.write_text(rendered("office-rack")[layout.router_file(peer)])
    ip = tools.require("ip")
    try:
        with netns.scratch([inv.network.interface]) as ns:
            tools.run(ns.command([ip, "address", "add", f"{peer.address}/{inv.network.subnet.prefixlen}", "dev", inv.network.interface]))
            for link in ("lo", inv.network.interface, _veth_peer(ns, ip)):
                tools.run(ns.command([ip, "link", "set", link, "up"]))
            daemon = [bgpd, "-d", "-S", "-Z", "-n", "-f", conf, "-i", pid, "--vty_socket", tmp_path, "-A", "127.0.0.1", "-P", "0"]
            subprocess.run(ns.command(daemon), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            try:
                shown = ""
                for _ in range(100):  # until bgpd answers with every neighbor
                    shown = subprocess.run(ns.command([vtysh, "--vty_socket", tmp_path, "-d", "bgpd", "-c", "show bgp summary"]), capture_output=True, text=True).stdout
                    if shown.count(" Active ") == len(inv.kubernetes_nodes):
                        break
                    subprocess.run(["sleep", "0.1"], check=True)
            finally:
                os.kill(int(pid.read_text()), signal.SIGTERM)
    except netns.NetnsUnavailable as e:
        pytest.skip(str(e))
    real = [line.rstrip() for line in shown.strip().splitlines()]
    excerpt = verification.router_expected(inv, peer)[0]
    assert real[:2] == excerpt[:2]
    header = next(i for i, line in enumerate(real) if line.startswith("Neighbor"))
    assert real[header] == excerpt[3]
    waiting = [verification.frr_neighbor_line(str(n.ip), inv.bgp.local_asn, 0, 0, "never", "Active") for n in inv.kubernetes_nodes]
    assert real[header + 1 : header + 1 + len(waiting)] == waiting
    assert excerpt[4:] == [verification.frr_neighbor_line(str(n.ip), inv.bgp.local_asn, 15, 12, "00:04:12", "1") for n in inv.kubernetes_nodes]
