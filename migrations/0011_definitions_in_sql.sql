-- 0011: functions and views moved out of the migrations. Each now lives in one file under sql/,
-- which `trackd migrate` applies after the migrations on every run; migrations hold the schema
-- only. Column defaults therefore call no function of ours: the two that did get the expression
-- itself (as 0009 and 0010 now write it), and trackd_new_public_id and
-- trackd_new_environment_id are dropped with the other functions no file defines.
ALTER TABLE deliveries ALTER COLUMN public_id
    SET DEFAULT translate(rtrim(encode(decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64'), '='), '+/', '-_');
ALTER TABLE workspaces ALTER COLUMN environment_id
    SET DEFAULT 100000 + floor(random() * 2147000000)::integer;
