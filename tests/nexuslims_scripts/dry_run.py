"""Run in NexusLIMS's environment: its record builder's dry-run file search on both sessions.

Prints one JSON line: for each session identifier, the files ``dry_run_file_find`` finds on

* ``theirs``: the sessions NexusLIMS's own ``get_sessions_to_build()`` returns;
* ``ours``: the sessions nexus-logger's core returns for the same database;
* ``ours_with_their_instrument``: nexus-logger ``Session`` objects built from NexusLIMS's own
  ``Instrument`` objects (as NexusLIMS code would build them).

The test environment has NexusLIMS without its scientific stack (hyperspy, lxml, numpy, ...),
which ``nexusLIMS.builder.record_builder`` imports at the top for record *building*. The modules
that need it are replaced by placeholders that fail if anything is called on them; the dry run
itself (``dry_run_file_find``, ``get_files``, GNU ``find`` via ``nexusLIMS.utils.files``, the
instrument's ``filestore_path`` and ``timezone``) is NexusLIMS's real code. The extractor
registry only feeds the extension list of the "exclusive" strategy, so the test uses the
"inclusive" one, where that list is not used.
"""

import json
import sys
import types
from pathlib import Path


class _NotInstalled:
    """Stands for a part of NexusLIMS that needs a package this environment lacks."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("not installed in the NexusLIMS test environment")


class _Placeholder(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _NotInstalled


class _NoExtractors:
    @staticmethod
    def get_supported_extensions(exclude_fallback=False):
        return []


def _install_placeholders():
    import nexusLIMS

    root = Path(nexusLIMS.__file__).parent
    for name in (
        "lxml",
        "lxml.etree",
        "nexusLIMS.builder.preflight",
        "nexusLIMS.exporters",
        "nexusLIMS.extractors",
        "nexusLIMS.harvesters.nemo",
        "nexusLIMS.harvesters.nemo.utils",
        "nexusLIMS.harvesters.reservation_event",
        "nexusLIMS.schemas",
        "nexusLIMS.schemas.activity",
    ):
        sys.modules[name] = _Placeholder(name)
        parent, _, child = name.rpartition(".")
        if isinstance(sys.modules.get(parent), _Placeholder):
            setattr(sys.modules[parent], child, sys.modules[name])
    sys.modules["nexusLIMS.schemas.activity"].__file__ = str(root / "schemas" / "activity.py")
    sys.modules["nexusLIMS.extractors"].get_registry = _NoExtractors


_install_placeholders()

from nexusLIMS.builder import record_builder  # noqa: E402
from nexusLIMS.db import session_handler as theirs  # noqa: E402
from nexusLIMS.instruments import _ensure_instrument_db_loaded, instrument_db  # noqa: E402

from nexus_logger.core import session_handler as ours  # noqa: E402


def _found(sessions):
    return {
        s.session_identifier: sorted(str(f) for f in record_builder.dry_run_file_find(s))
        for s in sessions
    }


db_path = sys.argv[1]
their_sessions = theirs.get_sessions_to_build()
_ensure_instrument_db_loaded()
rebuilt = [
    ours.Session(
        s.session_identifier,
        instrument_db[s.instrument.instrument_pid],
        (s.dt_from, s.dt_to),
        s.user,
        engine=db_path,
    )
    for s in their_sessions
]
print(
    json.dumps(
        {
            "theirs": _found(their_sessions),
            "ours": _found(ours.get_sessions_to_build(engine=db_path)),
            "ours_with_their_instrument": _found(rebuilt),
        }
    )
)
