"""`clusterforge rehearse`: the GitOps bootstrap against a real, local control plane
(etcd, kube-apiserver, the controller manager and scheduler, kwok nodes), with the real
Flux controllers and Cilium operator as local processes, all on 127.0.0.1."""
