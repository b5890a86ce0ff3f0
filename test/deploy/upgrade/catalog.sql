-- A normalised dump of everything the taskmgmt extension defines in the
-- current database, one line per fact, sorted: two databases whose dumps
-- are equal have the same schema.  Used to compare a fresh install with an
-- updated one (test/suites/82-deploy-upgrade.sh).
--
-- Compared: extension membership (every object of every kind, by
-- description), the extensions it requires, relations (kind, persistence, RLS flags, options, owner,
-- privileges), columns (relative order, type, nullability, default,
-- identity, generation, collation, privileges), constraints, indexes,
-- triggers, policies, functions (full definition, owner, privileges),
-- views, sequences (parameters, not values), enums (labels in order),
-- domains, comments, schema privileges, default privileges, the
-- extension's configuration tables.  Not compared: table contents, OIDs,
-- dropped-column leftovers.
\pset format unaligned
\pset tuples_only on
\pset pager off
WITH ext AS (SELECT oid, extnamespace AS nsp FROM pg_extension WHERE extname = 'taskmgmt'),
rels AS (
  SELECT c.* FROM pg_class c, ext WHERE c.relnamespace = ext.nsp
),
facts(line) AS (
  SELECT 'extension|' || extname || '|relocatable=' || extrelocatable || '|schema=' || extnamespace::regnamespace
    FROM pg_extension WHERE extname = 'taskmgmt'
  UNION ALL
  SELECT 'extension-config|' || cfg::regclass::text || '|' || coalesce(cond, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
   WHERE e.extname = 'taskmgmt'
  UNION ALL
  SELECT 'requires|' || r.extname
    FROM pg_depend d JOIN pg_extension r ON r.oid = d.refobjid, ext
   WHERE d.classid = 'pg_extension'::regclass AND d.objid = ext.oid AND d.refclassid = 'pg_extension'::regclass
  UNION ALL
  SELECT 'member|' || pg_describe_object(d.classid, d.objid, d.objsubid)
    FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
  UNION ALL
  SELECT 'schema|' || n.nspname || '|owner=' || n.nspowner::regrole
         || '|acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(n.nspacl) x), '')
    FROM pg_namespace n, ext WHERE n.oid = ext.nsp
  UNION ALL
  SELECT 'default-acl|' || d.defaclrole::regrole || '|' || d.defaclobjtype::text || '|'
         || (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(d.defaclacl) x)
    FROM pg_default_acl d, ext WHERE d.defaclnamespace = ext.nsp
  UNION ALL
  SELECT 'relation|' || relname || '|kind=' || relkind::text || '|persistence=' || relpersistence::text
         || '|rls=' || relrowsecurity || '|force_rls=' || relforcerowsecurity
         || '|replica_identity=' || relreplident::text
         || '|options=' || coalesce(array_to_string(reloptions, ','), '')
         || '|owner=' || relowner::regrole
         || '|acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(relacl) x), '')
    FROM rels WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
  UNION ALL
  SELECT 'column|' || c.relname || '|' || lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 3, '0')
         || '|' || a.attname || '|' || format_type(a.atttypid, a.atttypmod)
         || '|notnull=' || a.attnotnull || '|default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
         || '|identity=' || a.attidentity::text || '|generated=' || a.attgenerated::text
         || '|collation=' || coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '')
         || '|acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '')
    FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  UNION ALL
  SELECT 'constraint|' || coalesce(c.relname, t.typname) || '|' || k.conname || '|' || pg_get_constraintdef(k.oid)
         || '|deferrable=' || k.condeferrable || '|deferred=' || k.condeferred || '|valid=' || k.convalidated
    FROM pg_constraint k, ext
    LEFT JOIN LATERAL (SELECT relname FROM pg_class WHERE oid = k.conrelid) c ON true
    LEFT JOIN LATERAL (SELECT typname FROM pg_type WHERE oid = k.contypid) t ON true
   WHERE k.connamespace = ext.nsp
  UNION ALL
  SELECT 'index|' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN rels c ON c.oid = i.indrelid
  UNION ALL
  SELECT 'trigger|' || c.relname || '|' || pg_get_triggerdef(t.oid) || '|enabled=' || t.tgenabled::text
    FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'policy|' || tablename || '|' || policyname || '|' || permissive || '|' || array_to_string(roles, ',')
         || '|' || cmd || '|using=' || coalesce(qual, '') || '|check=' || coalesce(with_check, '')
    FROM pg_policies, ext WHERE schemaname = ext.nsp::regnamespace::text
  UNION ALL
  SELECT 'function|' || p.oid::regprocedure::text || '|kind=' || p.prokind::text
         || '|owner=' || p.proowner::regrole
         || '|acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), 'default')
         || E'\n' || CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) ELSE '' END
    FROM pg_proc p, ext WHERE p.pronamespace = ext.nsp
  UNION ALL
  SELECT 'view|' || relname || E'\n' || pg_get_viewdef(oid, true) FROM rels WHERE relkind IN ('v', 'm')
  UNION ALL
  SELECT 'sequence|' || c.relname || '|' || format_type(s.seqtypid, NULL) || '|start=' || s.seqstart
         || '|inc=' || s.seqincrement || '|min=' || s.seqmin || '|max=' || s.seqmax
         || '|cache=' || s.seqcache || '|cycle=' || s.seqcycle
    FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
  UNION ALL
  SELECT 'type|' || t.typname || '|' || t.typtype::text || '|owner=' || t.typowner::regrole
         || CASE t.typtype
              WHEN 'e' THEN '|labels=' || (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid)
              WHEN 'd' THEN '|base=' || format_type(t.typbasetype, t.typtypmod) || '|notnull=' || t.typnotnull
                            || '|default=' || coalesce(t.typdefault, '')
              ELSE '' END
         || '|acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(t.typacl) x), '')
    FROM pg_type t, ext
   WHERE t.typnamespace = ext.nsp AND t.typtype IN ('e', 'd', 'b', 'r', 'm')
  UNION ALL
  SELECT 'comment|' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || '|' || d.description
    FROM pg_description d
   WHERE (d.classoid, d.objoid) IN (
           SELECT dep.classid, dep.objid FROM pg_depend dep, ext
            WHERE dep.refclassid = 'pg_extension'::regclass AND dep.refobjid = ext.oid AND dep.deptype = 'e'
           UNION ALL
           SELECT 'pg_class'::regclass, c.oid FROM rels c
           UNION ALL
           SELECT 'pg_namespace'::regclass, ext.nsp FROM ext)
)
SELECT line FROM facts ORDER BY line;
