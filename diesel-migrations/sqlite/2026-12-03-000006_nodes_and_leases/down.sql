DROP INDEX site_leases_by_node;
DROP TABLE site_leases;
DROP TABLE nodes;
