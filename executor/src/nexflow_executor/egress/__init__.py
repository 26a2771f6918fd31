"""The egress proxy: the only way out of a sandbox, and only to the call's granted hosts.

How a sandbox reaches it, on both backends: the sandbox's network namespace has nothing
but `lo`; the executor creates the proxy's listening socket *inside* that namespace
(netns.py) and serves it from its own event loop. The sandbox gets
`HTTP_PROXY=HTTPS_PROXY=http://127.0.0.1:3128`; there is no route anywhere else, so
DNS, UDP, ICMP and direct TCP all fail. Each call has its own listener in its own
namespace, served by a proxy that knows only that call's grants.
"""

from nexflow_executor.egress.call import CallEgress, Egress
from nexflow_executor.egress.grants import HostGrant, parse_grant
from nexflow_executor.egress.proxy import EgressRecord

__all__ = ["CallEgress", "Egress", "EgressRecord", "HostGrant", "parse_grant"]
