"""The inventory (`cluster.yaml`) as typed pydantic models.

Field-level checks (types, formats, enums, unknown keys) live here; every rule
that relates two fields lives in `rules.py`. Aliases are the YAML spellings.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt
from pydantic.alias_generators import to_camel

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(
            f"{value!r} is not an RFC 1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError(f"{value!r} is not an exact version such as 1.35.4 (quote it in YAML)")
    return value


def _not_a_number(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"YAML reads this as the number {value!r}, not a version: write the exact version (major.minor.patch) in quotes")
    return value


def _mac(value: str) -> str:
    if not _MAC.match(value.lower()):
        raise ValueError(f"{value!r} is not a MAC address such as 52:54:00:12:34:56")
    return value.lower()


def _ifname(value: str) -> str:
    if not _IFNAME.match(value):
        raise ValueError(f"{value!r} is not a Linux interface name (1-15 characters, no spaces or '/')")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a DNS domain name")
    return value


def _ssh_key(value: str) -> str:
    parts = value.split()
    if len(parts) < 2 or not (parts[0].startswith(("ssh-", "ecdsa-", "sk-"))):
        raise ValueError("is not an OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
    return value


def _age_recipient(value: str) -> str:
    if not re.match(r"^age1[0-9a-z]{58}$", value):
        raise ValueError(f"{value!r} is not an age recipient (age1 followed by 58 characters)")
    return value


Label = Annotated[str, AfterValidator(_label)]
Version = Annotated[str, BeforeValidator(_not_a_number), AfterValidator(_semver)]
MacAddress = Annotated[str, AfterValidator(_mac)]
InterfaceName = Annotated[str, AfterValidator(_ifname)]
DomainName = Annotated[str, AfterValidator(_domain)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_key)]
AgeRecipient = Annotated[str, AfterValidator(_age_recipient)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
MAX_POOLS = 100
# Range checked in rules.py so the message can name the ASN rule; here only "an integer".
ASN = StrictInt


class Spec(BaseModel):
    """Base of every inventory section: unknown keys are errors, YAML keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


Role = Literal["control-plane", "worker", "loadbalancer"]
RouterKind = Literal["yamaha-rtx", "frr", "bird"]
# PodCIDR advertisement over BGP works with `kubernetes` and `cluster-pool` only.
IpamMode = Literal["kubernetes", "cluster-pool", "multi-pool"]


class Kubernetes(Spec):
    version: Version
    pod_cidr: IPv4Network = Field(alias="podCIDR")
    service_cidr: IPv4Network = Field(alias="serviceCIDR")
    cluster_domain: DomainName = "cluster.local"


class Network(Spec):
    subnet: IPv4Network
    gateway: IPv4Address
    dns: list[IPv4Address] = Field(min_length=1)
    domain: DomainName
    interface: InterfaceName = "ens160"
    mtu: Annotated[StrictInt, Field(ge=1280, le=9216)] = 1500


class ApiServer(Spec):
    vip: IPv4Address
    port: Port = 6443
    # A DNS name for the VIP; defaults to api.<cluster>.<domain> (see Cluster).
    dns_name: DomainName | None = None
    extra_cert_sans: list[str] = []
    # Networks besides the node subnet allowed to reach the API (admin desks, CI runners).
    allowed_sources: list[IPv4Network] = []


class Host(Spec):
    name: Label


class VmSize(Spec):
    """Hints for whoever creates the VM; rendered into the runbook, not enforced."""

    cpus: Annotated[StrictInt, Field(ge=1, le=512)] | None = None
    memory_gib: Annotated[StrictInt, Field(ge=1, le=4096)] | None = Field(None, alias="memoryGiB")
    disk_gib: Annotated[StrictInt, Field(ge=8, le=65536)] | None = Field(None, alias="diskGiB")


class Node(Spec):
    name: Label
    role: Role
    ip: IPv4Address
    host: Label
    mac: MacAddress | None = None
    vm: VmSize | None = None


class Ssh(Spec):
    user: Label = "ubuntu"
    authorized_keys: list[SshPublicKey] = Field(min_length=1)
    # Networks besides the node subnet allowed to SSH into the VMs.
    allowed_sources: list[IPv4Network] = []


class Cilium(Spec):
    version: Version
    routing_mode: Literal["tunnel", "native"] = "tunnel"
    tunnel_protocol: Literal["vxlan", "geneve"] = "vxlan"
    kube_proxy_replacement: StrictBool = True
    ipam: IpamMode = "kubernetes"
    hubble: StrictBool = True
    hubble_relay: StrictBool | None = None  # defaults to `hubble`
    encryption: Literal["none", "wireguard"] = "none"


class BgpTimers(Spec):
    hold_time_seconds: Annotated[StrictInt, Field(ge=3, le=65535)] = 90
    keepalive_time_seconds: Annotated[StrictInt, Field(ge=1, le=21845)] = 30
    connect_retry_time_seconds: Annotated[StrictInt, Field(ge=1, le=65535)] = 120


class BgpPeer(Spec):
    name: Label
    address: IPv4Address
    asn: ASN
    router: RouterKind
    # Name of a Kubernetes Secret (key `password`) holding the TCP-MD5 password;
    # the value itself lives only in the secrets file, never in git.
    auth_secret_ref: Label | None = None
    timers: BgpTimers | None = None  # overrides bgp.timers for this peer
    ebgp_multihop: Annotated[StrictInt, Field(ge=1, le=255)] | None = None


class Advertise(Spec):
    load_balancer_ips: StrictBool = Field(True, alias="loadBalancerIPs")
    pod_cidrs: StrictBool = Field(False, alias="podCIDRs")


class Bgp(Spec):
    local_asn: ASN = Field(alias="localASN")
    peers: list[BgpPeer] = Field(min_length=1)
    timers: BgpTimers = BgpTimers()
    advertise: Advertise = Advertise()


class LoadBalancerPool(Spec):
    name: Label
    cidr: IPv4Network
    # Only Services with these labels draw from this pool; none = every Service.
    service_selector: dict[str, str] = {}


class GitOps(Spec):
    engine: Literal["flux", "argocd"] = "flux"
    repository: str = Field(min_length=1)
    branch: str = "main"


class Docs(Spec):
    language: Literal["en", "ja"] = "en"


class Secrets(Spec):
    # age recipients: when set, the secrets file is SOPS-encrypted to them.
    age_recipients: list[AgeRecipient] = []


class Inventory(Spec):
    """The whole of cluster.yaml."""

    model_config = ConfigDict(title="clusterforge cluster.yaml")

    name: Label
    kubernetes: Kubernetes
    network: Network
    api_server: ApiServer
    hosts: list[Host] = Field(min_length=1)
    nodes: list[Node] = Field(min_length=1)
    ssh: Ssh
    cilium: Cilium
    bgp: Bgp | None = None
    # Bounded so the pairwise overlap rules stay cheap on hostile input.
    load_balancer_pools: list[LoadBalancerPool] = Field([], max_length=MAX_POOLS)
    gitops: GitOps
    docs: Docs = Docs()
    secrets: Secrets = Secrets()

    # Derived views used by rules and renderers (no state of their own).
    def nodes_with(self, role: Role) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def control_planes(self) -> list[Node]:
        return self.nodes_with("control-plane")

    @property
    def workers(self) -> list[Node]:
        return self.nodes_with("worker")

    @property
    def loadbalancers(self) -> list[Node]:
        return self.nodes_with("loadbalancer")

    @property
    def kubernetes_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role != "loadbalancer"]

    @property
    def api_dns_name(self) -> str:
        return self.api_server.dns_name or f"api.{self.name}.{self.network.domain}"

    @property
    def api_endpoint(self) -> str:
        """Where kubelets, kubectl and Cilium reach the API server: VIP:port."""
        return f"{self.api_server.vip}:{self.api_server.port}"
