-- Binding of catalog entries to a manufacturer CA (issue 10, finding 1): when ca_id is set, the
-- serial may only be activated with a certificate issued by that registered CA (its id is the
-- CA's normalized subject key identifier). NULL: any active, auto-registering CA may, as before.
-- No foreign key: CA rows are kept when deregistered, and a binding to a deregistered CA simply
-- refuses every certificate, which is what the binding is for.
ALTER TABLE catalog ADD COLUMN ca_id TEXT CHECK (ca_id IS NULL OR length(ca_id) BETWEEN 1 AND 128);
