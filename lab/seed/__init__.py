"""Content seeder: a small generated catalogue with real HLS media in the origin bucket."""
