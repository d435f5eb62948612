"""The inventory (`cluster.yaml`) as typed pydantic models.

Field-level checks (types, enums, unknown keys, and the value formats of
`formats.py`) live here; every rule that relates two fields lives in `rules.py`.
Aliases are the YAML spellings.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt
from pydantic.alias_generators import to_camel

from . import formats

Label = Annotated[str, AfterValidator(formats.label)]
Version = Annotated[str, BeforeValidator(formats.not_a_number), AfterValidator(formats.semver)]
MacAddress = Annotated[str, AfterValidator(formats.mac)]
InterfaceName = Annotated[str, AfterValidator(formats.ifname)]
DomainName = Annotated[str, AfterValidator(formats.domain)]
SshPublicKey = Annotated[str, AfterValidator(formats.ssh_key)]
AgeRecipient = Annotated[str, AfterValidator(formats.age_recipient)]
CertSan = Annotated[str, AfterValidator(formats.cert_san)]
GitUrl = Annotated[str, AfterValidator(formats.git_url)]
GitBranch = Annotated[str, AfterValidator(formats.git_branch)]
LabelKey = Annotated[str, AfterValidator(formats.label_key)]
LabelValue = Annotated[str, AfterValidator(formats.label_value)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
Ipv4 = Annotated[IPv4Address, BeforeValidator(formats.address_text("an IPv4 address", "192.0.2.10"))]
Ipv4Net = Annotated[IPv4Network, BeforeValidator(formats.address_text("an IPv4 network", "192.0.2.0/24"))]

# Limits no home lab or office rack reaches, which bound the work of check, render and
# validate: an inventory at every limit at once renders in under a second
# (tests/benchmarks/limits.py). Each is stated in its field's description.
MAX_CLUSTER_NODES = 40
MAX_HOSTS = 40
MAX_PEERS = 8
MAX_POOLS = 100
MAX_SELECTOR_LABELS = 16
MAX_SSH_KEYS = 32
MAX_ALLOWED_SOURCES = 32
MAX_CERT_SANS = 32
MAX_DNS_SERVERS = 8
MAX_AGE_RECIPIENTS = 32
# Range checked in rules.py so the message can name the ASN rule; here only "an integer".
ASN = StrictInt


class Spec(BaseModel):
    """Base of every inventory section: unknown keys are errors, YAML keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,  # the docstrings become descriptions in the JSON Schema
    )


Role = Literal["control-plane", "worker", "loadbalancer"]
RouterKind = Literal["yamaha-rtx", "frr", "bird"]
# PodCIDR advertisement over BGP works with `kubernetes` and `cluster-pool` only.
IpamMode = Literal["kubernetes", "cluster-pool", "multi-pool"]


class Kubernetes(Spec):
    version: Version
    """Exact Kubernetes version, quoted ("1.35.4"): kubeadm, kubelet and kubectl are pinned to it."""
    pod_cidr: Ipv4Net = Field(alias="podCIDR")
    """Pod addresses (kubeadm networking.podSubnet); must not overlap any other range."""
    service_cidr: Ipv4Net = Field(alias="serviceCIDR")
    """ClusterIP Service addresses (kubeadm networking.serviceSubnet)."""
    cluster_domain: DomainName = "cluster.local"
    """DNS domain of Services inside the cluster."""


class Network(Spec):
    subnet: Ipv4Net
    """The L2 segment of every VM: node IPs, the VIP and the gateway are inside it."""
    gateway: Ipv4
    """Default route of the VMs (often the BGP router too)."""
    dns: list[Ipv4] = Field(min_length=1, max_length=MAX_DNS_SERVERS)
    """Resolvers of the VMs (at most 8)."""
    domain: DomainName
    """Search domain; a node's FQDN is NAME.DOMAIN."""
    interface: InterfaceName = "ens160"
    """NIC name inside the VMs (ens160 on ESXi vmxnet3, ens18 on Proxmox virtio)."""
    mtu: Annotated[StrictInt, Field(ge=1280, le=9216)] = 1500
    """MTU of the VM NIC."""


class ApiServer(Spec):
    vip: Ipv4
    """The virtual IP keepalived moves between the load balancers; the cluster's controlPlaneEndpoint."""
    port: Port = 6443
    """Port of HAProxy on the VIP and of every API server."""
    dns_name: DomainName | None = None
    """DNS name of the VIP in the API certificate; default api.CLUSTER.DOMAIN."""
    extra_cert_sans: list[CertSan] = Field([], max_length=MAX_CERT_SANS)
    """More DNS names or IPv4 addresses for the API server certificate (at most 32)."""
    allowed_sources: list[Ipv4Net] = Field([], max_length=MAX_ALLOWED_SOURCES)
    """Networks besides the node subnet allowed to reach the API (admin desks, CI runners; at most 32)."""


class Host(Spec):
    name: Label
    """A physical machine running VMs; used to warn about placements that lose quorum with one host."""


class VmSize(Spec):
    """Hints for whoever creates the VM; rendered into the runbook, not enforced."""

    cpus: Annotated[StrictInt, Field(ge=1, le=512)] | None = None
    memory_gib: Annotated[StrictInt, Field(ge=1, le=4096)] | None = Field(None, alias="memoryGiB")
    disk_gib: Annotated[StrictInt, Field(ge=8, le=65536)] | None = Field(None, alias="diskGiB")


class Node(Spec):
    name: Label
    """Hostname of the VM (an RFC 1123 label) and its Kubernetes node name."""
    role: Role
    """control-plane (1, 3, 5 or 7 of them), worker, or loadbalancer (HAProxy + keepalived, 0 or at least 2)."""
    ip: Ipv4
    """Static address in network.subnet."""
    host: Label
    """The hosts[] entry this VM runs on."""
    mac: MacAddress | None = None
    """NIC MAC address: the seed then matches the NIC by MAC and names it network.interface."""
    vm: VmSize | None = None
    """Sizing hints for the VM."""


class Ssh(Spec):
    user: Label = "ubuntu"
    """Login user created on every VM (sudo, no password)."""
    authorized_keys: list[SshPublicKey] = Field(min_length=1, max_length=MAX_SSH_KEYS)
    """OpenSSH public keys of that user, one key per entry (at most 32); password login is off."""
    allowed_sources: list[Ipv4Net] = Field([], max_length=MAX_ALLOWED_SOURCES)
    """Networks besides the node subnet allowed to SSH into the VMs (at most 32)."""


class Cilium(Spec):
    version: Version
    """Cilium chart version (1.18 or newer: BGP control plane as cilium.io/v2)."""
    routing_mode: Literal["tunnel", "native"] = "tunnel"
    """tunnel: pod traffic in VXLAN/Geneve between nodes; native: routed as is (nodes share one L2)."""
    tunnel_protocol: Literal["vxlan", "geneve"] = "vxlan"
    """Encapsulation in tunnel mode."""
    kube_proxy_replacement: StrictBool = True
    """Cilium replaces kube-proxy (kubeadm then installs none)."""
    ipam: IpamMode = "kubernetes"
    """How pods get addresses; PodCIDR advertisement needs kubernetes or cluster-pool."""
    hubble: StrictBool = True
    """Hubble flow visibility."""
    hubble_relay: StrictBool | None = None
    """Hubble Relay (cluster-wide flows); default: as hubble."""
    encryption: Literal["none", "wireguard"] = "none"
    """Transparent encryption of pod traffic between nodes."""


class BgpTimers(Spec):
    hold_time_seconds: Annotated[StrictInt, Field(ge=3, le=65535)] = 90
    keepalive_time_seconds: Annotated[StrictInt, Field(ge=1, le=21845)] = 30
    connect_retry_time_seconds: Annotated[StrictInt, Field(ge=1, le=65535)] = 120


class BgpPeer(Spec):
    name: Label
    """Name of the router; its config is rendered under routers/NAME/."""
    address: Ipv4
    """Address every node's Cilium agent connects to."""
    asn: ASN
    """The router's AS: equal to bgp.localASN makes the session iBGP, otherwise eBGP."""
    router: RouterKind
    """What the router runs: its side of the session is rendered for it."""
    auth_secret_ref: Label | None = None
    """Name of the Kubernetes Secret (key `password`) with the TCP-MD5 password; the value lives only in the secrets file."""
    timers: BgpTimers | None = None
    """Overrides bgp.timers for this peer."""
    ebgp_multihop: Annotated[StrictInt, Field(ge=1, le=255)] | None = None
    """TTL for an eBGP peer that is not on the node subnet."""


class Advertise(Spec):
    load_balancer_ips: StrictBool = Field(True, alias="loadBalancerIPs")
    """Announce LoadBalancer Service IPs (as /32) from loadBalancerPools."""
    pod_cidrs: StrictBool = Field(False, alias="podCIDRs")
    """Announce each node's pod CIDR."""


class Bgp(Spec):
    local_asn: ASN = Field(alias="localASN")
    """The cluster's AS, spoken by every node."""
    peers: list[BgpPeer] = Field(min_length=1, max_length=MAX_PEERS)
    """Routers every node peers with (at most 8)."""
    timers: BgpTimers = BgpTimers()
    """Session timers (Cilium's defaults: hold 90 s, keepalive 30 s)."""
    advertise: Advertise = Advertise()
    """What the cluster announces."""


class LoadBalancerPool(Spec):
    name: Label
    cidr: Ipv4Net
    """Addresses for LoadBalancer Services (Cilium LB IPAM), routed to the cluster by BGP."""
    service_selector: dict[LabelKey, LabelValue] = Field({}, max_length=MAX_SELECTOR_LABELS)
    """Only Services with these labels (at most 16) draw from this pool; empty: every Service."""
    default: StrictBool = False
    """With several pools: this pool takes every Service no other pool selects (it has no serviceSelector; at most one default)."""


class GitOps(Spec):
    engine: Literal["flux", "argocd"] = "flux"
    """Which GitOps controller applies the repository."""
    repository: GitUrl
    """Git URL of this repository, as the controller clones it: https://HOST/PATH, ssh://[USER@]HOST[:PORT]/PATH or (Argo CD only) USER@HOST:PATH; no password in it."""
    branch: GitBranch = "main"
    """The branch the controller follows (a git branch name in printable ASCII)."""


class Docs(Spec):
    language: Literal["en", "ja"] = "en"
    """Language of the generated README (ja adds README.ja.md)."""


class Secrets(Spec):
    age_recipients: list[AgeRecipient] = Field([], max_length=MAX_AGE_RECIPIENTS)
    """age public keys (at most 32): the secrets file is then SOPS-encrypted to them."""


class Bootstrap(Spec):
    mode: Literal["manual", "auto"] = "manual"
    """manual: the README's steps by hand (kubeadm init, Cilium, the joins); auto: the first control plane's cloud-init runs kubeadm init and installs Cilium, every other node joins by itself."""


class Inventory(Spec):
    """The whole of cluster.yaml."""

    model_config = ConfigDict(title="clusterforge cluster.yaml")

    name: Label
    """Cluster name (an RFC 1123 label)."""
    kubernetes: Kubernetes
    network: Network
    api_server: ApiServer
    hosts: list[Host] = Field(min_length=1, max_length=MAX_HOSTS)
    """The physical machines the VMs run on (at most 40)."""
    nodes: list[Node] = Field(min_length=1, max_length=MAX_CLUSTER_NODES)
    """The VMs of the cluster (at most 40: each gets its seed, kubeadm or load balancer files rendered and validated)."""
    ssh: Ssh
    cilium: Cilium
    bgp: Bgp | None = None
    """BGP between every node and the routers; absent: no BGP."""
    load_balancer_pools: list[LoadBalancerPool] = Field([], max_length=MAX_POOLS)
    """LoadBalancer IP pools (at most 100)."""
    gitops: GitOps
    docs: Docs = Docs()
    secrets: Secrets = Secrets()
    bootstrap: Bootstrap = Bootstrap()
    """Who runs kubeadm and the Cilium install on the nodes."""

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
