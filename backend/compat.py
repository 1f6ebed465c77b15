"""Constants shared by the Next.js-compatibility layer (backend.app) and the routers."""

from __future__ import annotations

# A "/" decoded from %2F stays inside its path segment, as in Next.js; routes see this
# stand-in in a path parameter and turn it back into "/".
ENCODED_SLASH = "\uf8ff"
