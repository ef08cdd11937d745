DROP TABLE invite_rules;
DROP TABLE canned_responses;
