"""Run in NexusLIMS's environment: its record builder's file search for every session to build.

``sys.argv[1]``: the database; ``sys.argv[2]``: a JSON list of the extensions the extractor
registry reports (the "exclusive" strategy's list; the registry itself needs packages this
environment lacks). Prints one JSON line: for each session identifier NexusLIMS's own
``get_sessions_to_build()`` returns, the files ``record_builder.dry_run_file_find`` finds
(path, size, modification time in ns) and whether ``has_delay_passed`` holds for its END, the
two things that decide NO_FILES_FOUND in ``build_new_session_records``.
"""

import json
import sys

from tests.nexuslims_scripts.placeholders import install_placeholders

install_placeholders(json.loads(sys.argv[2]))

from nexusLIMS.builder import record_builder  # noqa: E402
from nexusLIMS.db.session_handler import get_sessions_to_build  # noqa: E402
from nexusLIMS.utils.time import has_delay_passed  # noqa: E402

found = {}
for session in get_sessions_to_build():
    files = record_builder.dry_run_file_find(session)
    found[session.session_identifier] = {
        "files": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "delay_passed": has_delay_passed(session.dt_to),
    }
print(json.dumps(found))
