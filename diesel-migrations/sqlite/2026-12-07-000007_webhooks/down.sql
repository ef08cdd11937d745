DROP INDEX webhook_deliveries_by_conversation;
DROP INDEX webhook_deliveries_by_webhook;
DROP INDEX webhook_deliveries_due;
DROP TABLE webhook_deliveries;
DROP INDEX webhooks_by_site;
DROP TABLE webhooks;
