"""A small certificate authority for mutual TLS between the control plane and executors.

    init_ca             make the CA (ECDSA P-256): ca.key (0600) and ca.pem in a 0700 folder
    issue_executor      an executor's server certificate (serverAuth; DNS / IP SANs)
    issue_control_plane the control plane's client certificate (clientAuth; its identity)
    CONTROL_PLANE_ID    the identity an executor checks: SAN DNS `nexflow-control-plane`
    Issued              the files written
    CertError           bad input or an unusable CA, said in one line

What `nexflow certs init|issue` runs (`cli._certs`).
"""

from ._authority import CA_CERT, CA_KEY, CertError, Issued, init_ca
from ._issue import CONTROL_PLANE_ID, issue_control_plane, issue_executor

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CONTROL_PLANE_ID",
    "CertError",
    "Issued",
    "init_ca",
    "issue_control_plane",
    "issue_executor",
]
