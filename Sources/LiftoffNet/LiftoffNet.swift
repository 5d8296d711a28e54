// LiftoffNet — pod networking for Liftoff (see shared/STYLE.md for its place among the targets):
//   NetworkNamespace   create/remove the per-pod network namespace under /run/netns
//   CNIConfigLoader    the network configuration list from the conf dir, or the embedded default
//   CNIManager         ADD/DEL/CHECK/STATUS/GC of a configuration list, results cached on disk
//   PodFiles           /etc/resolv.conf, /etc/hosts and /etc/hostname for a pod
//   PodNetworkLifecycle  all of the above for one pod: attach (netns, ADD, files) and detach
import LiftoffCore
