"""What every domain needs and no domain owns: app factory, config, database, auth, errors."""
