"""The control plane: where cluster objects come from (API server or manifest files) and the
store that turns them into the `ClusterState` the compiler reads. The only package that may
import `kubernetes_asyncio`."""
