"""What every service shares: the app factory, settings, errors, AWS clients and table specs."""
