"""Who may do what: operators' accounts and roles, senders' credentials, the patient search hash."""

from .accounts import Accounts, NotAllowed, Role, User
from .patient_search import PatientHasher
from .senders import Caller, Senders
from .server_keys import ServerKeys
from .sessions import Sessions

__all__ = ["Accounts", "Caller", "NotAllowed", "PatientHasher", "Role", "Senders", "ServerKeys", "Sessions", "User"]
