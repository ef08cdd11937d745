DROP TABLE entries;
DROP TABLE conversations;
DROP TABLE visitors;
DROP TABLE agents;
DROP TABLE sites;
