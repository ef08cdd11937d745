-- Sites may require visitors to carry a verified identity (HMAC of the host's user id).
ALTER TABLE sites ADD COLUMN require_identity BOOLEAN NOT NULL DEFAULT 0;
-- Extra data of an entry as JSON: the contact of an offline message, the `upto` of a read.
ALTER TABLE entries ADD COLUMN meta TEXT;
