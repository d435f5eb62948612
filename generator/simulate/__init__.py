"""`clusterforge simulate`: the cluster's network in network namespaces with the real daemons.

Data flows one way: rendered repository (+ its cluster.yaml) -> twin (addresses in
the documentation ranges) -> topology (namespaces) -> daemons -> scenarios -> report.
"""
