"""Import every domain's models so Base.metadata is complete (for Alembic and the app)."""

import core.lockout  # noqa: F401
import core.models  # noqa: F401
import notifications.models  # noqa: F401
import packages.models  # noqa: F401
import signing.models  # noqa: F401
import signing.settlement_models  # noqa: F401
