"""The exceptions users see. Layer-neutral: ``ml/``, ``runtime/`` and ``processes/`` all raise these.

Hierarchy::

    MlsitterError
    ├── UserError              bad input from a person: the CLI prints the message, no traceback
    │   ├── InputError         a process input is missing, unknown or of the wrong type (ValueError)
    │   │   └── InvalidInputError  an input outside what the process declares (also TypeError, as sklearn's)
    │   ├── DataError          a file or frame is unreadable or lacks what was asked for (ValueError)
    │   ├── SpecError          a spec / brief / search space / schema given by the user is invalid
    │   ├── UnknownProcessError
    │   ├── RunNotFoundError
    │   ├── RunStateError      the run is not in a state that allows the request
    │   │   └── ApprovalRefusedError  an answer the run's approval rules refuse (the rule is named)
    │   └── UsersFileError     the users file is unreadable, malformed or open to other users
    ├── NonDeterminismError    replay met a different step than the journal recorded
    ├── RunLockedError         another runner holds the run (one writer per run)
    ├── GateFailedError        a gate with on_fail="fail" did not pass
    ├── RefineExhaustedError   a refine loop ran out of attempts
    └── JournalCorruptError    the store cannot be read or its chain does not verify
"""

from __future__ import annotations


class MlsitterError(Exception):
    """Base of every mlsitter error."""


class UserError(MlsitterError):
    """An error caused by what the user gave; shown without a traceback."""


class InputError(UserError, ValueError):
    """A process input is missing, unknown, or cannot be coerced to its declared type."""


class InvalidInputError(InputError, TypeError):
    """A process input's value is not what the process declares (type, allowed values, range), or its name
    is not one of the process's inputs; refused before the run is created. Also a ``TypeError``, as
    scikit-learn's ``InvalidParameterError`` is, so either ``except`` clause catches it."""


class DataError(UserError, ValueError):
    """Data cannot be read or does not have what was asked for (file, column, format)."""


class SpecError(UserError, ValueError):
    """A user-written spec (brief, search space, schema, rule) is invalid."""


class UnknownProcessError(UserError, LookupError):
    """No process is registered under that name and it is not a ``path.py:function``."""


class RunNotFoundError(UserError, LookupError):
    """No run with that id in the store."""


class RunStateError(UserError):
    """The run's state does not allow the request (e.g. approving a run that is not waiting)."""


class ApprovalRefusedError(RunStateError):
    """An answer refused by the approval rules the run started under; the message names the rule."""


class UsersFileError(UserError):
    """The users file (accounts and roles) is malformed, or others may read or write it."""


class NonDeterminismError(MlsitterError):
    """On replay the process asked for a different step than the journal recorded at that position."""


class RunLockedError(MlsitterError):
    """Another runner is executing this run; only one writer per run is allowed."""


class GateFailedError(MlsitterError):
    """A quality gate failed and its policy was to fail the run."""


class RefineExhaustedError(MlsitterError):
    """A refine loop used all its attempts without an approval."""


class JournalCorruptError(MlsitterError):
    """The store is unreadable or the hash chain / artifact hashes do not verify."""


class JournalKeyError(JournalCorruptError):
    """The journal key is missing, unreadable, too open (permissions) or not the one the store was chained with."""
