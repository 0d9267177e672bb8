"""What signing tells the domains to its right (care, notifications) without importing them.

Each signal is sent inside the transaction that made the change, so a receiver's writes commit or
roll back with it. Receivers are connected by app.create_app, never by an import's side effect.
"""

from blinker import Namespace

_signals = Namespace()

# sender: None; agreements: list[Agreement] that began: fresh signings, and current-cycle agreements an import of the
# county's existing agreements recorded (signing.imports, with their real start dates).
signed = _signals.signal("signed")
# sender: None; resident_ids: residents whose agreement ended (termination, death).
ended = _signals.signal("ended")
# sender: None; resident_ids: residents whose agreements of a cycle that has begun were created or activated.
cycle_started = _signals.signal("cycle-started")
