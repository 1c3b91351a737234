CREATE TABLE IF NOT EXISTS artworks (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT 'Untitled',
  width INTEGER NOT NULL DEFAULT 32,
  height INTEGER NOT NULL DEFAULT 32,
  preview_png TEXT, -- data URL of the flattened image
  created_at TEXT DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS layers (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  artwork_id INTEGER NOT NULL REFERENCES artworks(id),
  name TEXT NOT NULL,
  position INTEGER NOT NULL DEFAULT 0,
  visible INTEGER NOT NULL DEFAULT 1,
  pixels TEXT NOT NULL, -- JSON array of "#rrggbb" or null, row-major
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS palettes (
  id INTEGER PRIMARY KEY,
  _owner TEXT NOT NULL,
  name TEXT NOT NULL,
  colors TEXT NOT NULL, -- JSON array of "#rrggbb"
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
