// LiftoffNet — pod networking for Liftoff (see shared/STYLE.md for its place among the targets):
//   NetNS   create/remove the per-pod network namespace under /run/netns
//   CNIConfigLoader    the network configuration list from the conf dir, or the embedded default
//   CNINetwork         ADD/DEL/CHECK/STATUS/GC of a configuration list, results cached on disk
//   PodFiles           /etc/resolv.conf, /etc/hosts and /etc/hostname for a pod
import LiftoffCore
