"""Who and where, before anyone signs: regions, policy profiles, centres, village clinics, teams, staff, API
clients, households, residents and their identity, health facts and key populations."""
