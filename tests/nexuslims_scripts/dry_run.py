"""Run in NexusLIMS's environment: its record builder's dry-run file search on both sessions.

Prints one JSON line: for each session identifier, the files ``dry_run_file_find`` finds on

* ``theirs``: the sessions NexusLIMS's own ``get_sessions_to_build()`` returns;
* ``ours``: the sessions nexus-logger's core returns for the same database;
* ``ours_with_their_instrument``: nexus-logger ``Session`` objects built from NexusLIMS's own
  ``Instrument`` objects (as NexusLIMS code would build them).

What the environment lacks is replaced by placeholders (``placeholders.py``); the dry run
itself (``dry_run_file_find``, ``get_files``, GNU ``find``, the instrument's ``filestore_path``
and ``timezone``) is NexusLIMS's real code. The test uses the "inclusive" strategy, where the
extractors' extension list is not used.
"""

import json
import sys

from tests.nexuslims_scripts.placeholders import install_placeholders

install_placeholders()

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
