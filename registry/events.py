"""What the registry tells later domains without importing them (connected by app.create_app).

Signals are sent inside the transaction of the change, so receivers' writes share its fate.
"""

from blinker import Namespace

_signals = Namespace()

# sender: None; resident_ids: residents whose conditions, pregnancies or tags changed (plans follow).
health_facts_changed = _signals.signal("health-facts-changed")
# sender: None; resident: a Resident whose insurance facts changed (capitation counts follow).
insurance_changed = _signals.signal("insurance-changed")
# sender: None; resident: a Resident whose identity an on-site check verified (capitation counts follow).
identity_verified = _signals.signal("identity-verified")
# sender: None; resident_ids: residents who now have an ID number (registered with one, or given one) — the
# bureau's enrolment facts held for that number become theirs (registry.insurance).
id_number_registered = _signals.signal("id-number-registered")
# sender: None; resident_id, died_on: a date of death recorded on the resident (signing ends their agreements).
death_recorded = _signals.signal("death-recorded")
