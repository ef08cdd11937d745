DROP TABLE agent_tokens;
