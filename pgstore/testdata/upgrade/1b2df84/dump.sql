--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--



--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--



--
-- Name: locker_fence; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE locker_fence
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: locker_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE locker_history (
    id bigint NOT NULL,
    name text NOT NULL,
    event jsonb NOT NULL
);


--
-- Name: locker_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE locker_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: locker_history_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE locker_history_id_seq OWNED BY locker_history.id;


--
-- Name: locker_locks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE locker_locks (
    name text NOT NULL,
    key text DEFAULT ''::text NOT NULL,
    holds jsonb DEFAULT '{}'::jsonb NOT NULL,
    fence bigint DEFAULT 0 NOT NULL,
    since timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    free_since timestamp with time zone,
    pools text[] DEFAULT '{}'::text[] NOT NULL,
    metadata jsonb
);


--
-- Name: locker_schema; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE locker_schema (
    version integer NOT NULL
);


--
-- Name: locker_waiters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE locker_waiters (
    id bigint NOT NULL,
    name text NOT NULL,
    key text NOT NULL,
    holder text NOT NULL,
    replica text NOT NULL,
    heartbeat timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);


--
-- Name: locker_waiters_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE locker_waiters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: locker_waiters_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE locker_waiters_id_seq OWNED BY locker_waiters.id;


--
-- Name: locker_history id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY locker_history ALTER COLUMN id SET DEFAULT nextval('locker_history_id_seq'::regclass);


--
-- Name: locker_waiters id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY locker_waiters ALTER COLUMN id SET DEFAULT nextval('locker_waiters_id_seq'::regclass);


--
-- Data for Name: locker_history; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_history VALUES (1, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:49.139057Z", "type": "acquired", "count": 1, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:49.139057Z"}');
INSERT INTO locker_history VALUES (2, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:49.145887Z", "type": "acquired", "count": 2, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:49.145887Z"}');
INSERT INTO locker_history VALUES (3, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:49.162139Z", "type": "acquired", "count": 3, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:49.162139Z"}');
INSERT INTO locker_history VALUES (4, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:49.167424Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-1", "expires": "2036-11-25T01:33:49.167424Z"}');
INSERT INTO locker_history VALUES (5, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:49.17996Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-2", "expires": "2036-11-25T01:33:49.17996Z"}');
INSERT INTO locker_history VALUES (6, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:49.190177Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-3", "expires": "2036-11-25T01:33:49.190177Z"}');
INSERT INTO locker_history VALUES (7, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:49.20137Z", "type": "acquired", "count": 2, "fence": 2, "holder": "reader-2", "expires": "2036-11-25T01:33:49.20137Z"}');
INSERT INTO locker_history VALUES (8, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T01:33:49.211275Z", "type": "acquired", "count": 1, "fence": 3, "holder": "h-0"}');
INSERT INTO locker_history VALUES (9, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T01:33:49.220459Z", "type": "released", "count": 0, "fence": 3, "holder": "h-0"}');
INSERT INTO locker_history VALUES (10, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T01:33:49.232272Z", "type": "acquired", "count": 1, "fence": 4, "holder": "h-1"}');
INSERT INTO locker_history VALUES (11, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T01:33:49.236472Z", "type": "released", "count": 0, "fence": 4, "holder": "h-1"}');
INSERT INTO locker_history VALUES (12, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T01:33:49.254035Z", "type": "acquired", "count": 1, "fence": 5, "holder": "h-2"}');
INSERT INTO locker_history VALUES (13, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T01:33:49.267712Z", "type": "released", "count": 0, "fence": 5, "holder": "h-2"}');
INSERT INTO locker_history VALUES (14, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T01:33:49.275641Z", "type": "acquired", "count": 1, "fence": 6, "holder": "h-3"}');
INSERT INTO locker_history VALUES (15, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T01:33:49.287477Z", "type": "released", "count": 0, "fence": 6, "holder": "h-3"}');
INSERT INTO locker_history VALUES (16, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T01:33:49.295467Z", "type": "acquired", "count": 1, "fence": 7, "holder": "h-4"}');
INSERT INTO locker_history VALUES (17, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T01:33:49.301703Z", "type": "released", "count": 0, "fence": 7, "holder": "h-4"}');
INSERT INTO locker_history VALUES (18, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T01:33:49.311548Z", "type": "acquired", "count": 1, "fence": 8, "holder": "final"}');
INSERT INTO locker_history VALUES (19, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:49.319412Z", "type": "acquired", "count": 1, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (20, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:49.324189Z", "type": "acquired", "count": 2, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (21, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:49.340314Z", "type": "released", "count": 1, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (22, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:49.349797Z", "type": "released", "count": 0, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (23, 'forced', '{"key": "stuck", "lock": "forced", "time": "2026-11-28T01:33:49.358306Z", "type": "acquired", "count": 1, "fence": 10, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (24, 'forced', '{"by": "admin", "key": "stuck", "lock": "forced", "time": "2026-11-28T01:33:49.367036Z", "type": "forced", "count": 0, "fence": 10, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (25, 'café ☕ ünïcode', '{"key": "ключ", "lock": "café ☕ ünïcode", "time": "2026-11-28T01:33:49.37916Z", "type": "acquired", "count": 1, "fence": 11, "holder": "持有者"}');
INSERT INTO locker_history VALUES (26, 'deploys/prod', '{"key": "odd", "lock": "deploys/prod", "time": "2026-11-28T01:33:49.391041Z", "type": "acquired", "count": 1, "fence": 12, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (27, '..', '{"key": "odd", "lock": "..", "time": "2026-11-28T01:33:49.399702Z", "type": "acquired", "count": 1, "fence": 13, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (28, 'what?#', '{"key": "odd", "lock": "what?#", "time": "2026-11-28T01:33:49.407843Z", "type": "acquired", "count": 1, "fence": 14, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (29, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T01:33:49.420436Z", "type": "acquired", "count": 1, "fence": 15, "holder": "renewer", "expires": "2027-01-08T17:33:49.420436Z"}');
INSERT INTO locker_history VALUES (30, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T01:33:49.42465Z", "type": "refreshed", "count": 1, "fence": 15, "holder": "renewer", "expires": "2036-11-25T01:33:49.42465Z"}');
INSERT INTO locker_history VALUES (31, 'no-lease', '{"key": "forever", "lock": "no-lease", "time": "2026-11-28T01:33:49.428235Z", "type": "acquired", "count": 1, "fence": 16, "holder": "forever"}');
INSERT INTO locker_history VALUES (32, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T01:33:49.431975Z", "type": "acquired", "count": 1, "fence": 17, "holder": "bh-0", "expires": "2036-11-25T01:33:49.431975Z"}');
INSERT INTO locker_history VALUES (33, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T01:33:49.435543Z", "type": "acquired", "count": 1, "fence": 18, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (34, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T01:33:49.439264Z", "type": "acquired", "count": 1, "fence": 19, "holder": "bh-2", "expires": "2036-11-25T01:33:49.439264Z"}');
INSERT INTO locker_history VALUES (35, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T01:33:49.443749Z", "type": "acquired", "count": 1, "fence": 20, "holder": "bh-3"}');
INSERT INTO locker_history VALUES (36, 'batch-04', '{"key": "bk-4", "lock": "batch-04", "time": "2026-11-28T01:33:49.447614Z", "type": "acquired", "count": 1, "fence": 21, "holder": "bh-4", "expires": "2036-11-25T01:33:49.447614Z"}');
INSERT INTO locker_history VALUES (37, 'batch-05', '{"key": "bk-5", "lock": "batch-05", "time": "2026-11-28T01:33:49.452375Z", "type": "acquired", "count": 1, "fence": 22, "holder": "bh-5"}');
INSERT INTO locker_history VALUES (38, 'batch-06', '{"key": "bk-6", "lock": "batch-06", "time": "2026-11-28T01:33:49.455785Z", "type": "acquired", "count": 1, "fence": 23, "holder": "bh-6", "expires": "2036-11-25T01:33:49.455785Z"}');
INSERT INTO locker_history VALUES (39, 'batch-07', '{"key": "bk-7", "lock": "batch-07", "time": "2026-11-28T01:33:49.462022Z", "type": "acquired", "count": 1, "fence": 24, "holder": "bh-7"}');
INSERT INTO locker_history VALUES (40, 'batch-08', '{"key": "bk-8", "lock": "batch-08", "time": "2026-11-28T01:33:49.467366Z", "type": "acquired", "count": 1, "fence": 25, "holder": "bh-8", "expires": "2036-11-25T01:33:49.467366Z"}');
INSERT INTO locker_history VALUES (41, 'batch-09', '{"key": "bk-9", "lock": "batch-09", "time": "2026-11-28T01:33:49.47142Z", "type": "acquired", "count": 1, "fence": 26, "holder": "bh-9"}');
INSERT INTO locker_history VALUES (42, 'batch-10', '{"key": "bk-10", "lock": "batch-10", "time": "2026-11-28T01:33:49.474968Z", "type": "acquired", "count": 1, "fence": 27, "holder": "bh-10", "expires": "2036-11-25T01:33:49.474968Z"}');
INSERT INTO locker_history VALUES (43, 'batch-11', '{"key": "bk-11", "lock": "batch-11", "time": "2026-11-28T01:33:49.478431Z", "type": "acquired", "count": 1, "fence": 28, "holder": "bh-11"}');
INSERT INTO locker_history VALUES (44, 'env-1', '{"key": "", "lock": "env-1", "pool": "envs", "time": "2026-11-28T01:33:49.481869Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (45, 'env-2', '{"key": "", "lock": "env-2", "pool": "envs", "time": "2026-11-28T01:33:49.486145Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (46, 'env-3', '{"key": "", "lock": "env-3", "pool": "envs", "time": "2026-11-28T01:33:49.490345Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (47, 'env-3', '{"key": "", "lock": "env-3", "pool": "big", "time": "2026-11-28T01:33:49.505818Z", "type": "added", "count": 0, "fence": 0, "pools": ["big", "envs"], "holder": ""}');
INSERT INTO locker_history VALUES (48, 'env-4', '{"key": "", "lock": "env-4", "pool": "envs", "time": "2026-11-28T01:33:49.511292Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (49, 'env-4', '{"by": "admin", "key": "", "lock": "env-4", "pool": "envs", "time": "2026-11-28T01:33:49.526075Z", "type": "removed", "count": 0, "fence": 0, "holder": ""}');
INSERT INTO locker_history VALUES (50, 'big-1', '{"key": "", "lock": "big-1", "pool": "big", "time": "2026-11-28T01:33:49.553244Z", "type": "added", "count": 0, "fence": 0, "pools": ["big"], "holder": ""}');
INSERT INTO locker_history VALUES (51, 'env-1', '{"key": "deployer-a", "lock": "env-1", "time": "2026-11-28T01:33:49.57599Z", "type": "acquired", "count": 1, "fence": 29, "pools": ["envs"], "holder": "pipeline-1", "expires": "2036-11-25T01:33:49.57599Z"}');
INSERT INTO locker_history VALUES (52, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:49.930728Z", "type": "acquired", "count": 4, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:49.930728Z"}');
INSERT INTO locker_history VALUES (53, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:49.941095Z", "type": "released", "count": 0, "fence": 2, "holder": "reader-3", "expires": "2036-11-25T01:33:49.190177Z"}');
INSERT INTO locker_history VALUES (54, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T01:33:49.968468Z", "type": "released", "count": 0, "fence": 8, "holder": "final"}');
INSERT INTO locker_history VALUES (55, 'fence-mover', '{"key": "k-after-snapshot", "lock": "fence-mover", "time": "2026-11-28T01:33:49.974437Z", "type": "acquired", "count": 1, "fence": 30, "holder": "later", "expires": "2036-11-25T01:33:49.974437Z"}');
INSERT INTO locker_history VALUES (56, 'log-only-0', '{"key": "lk-0", "lock": "log-only-0", "time": "2026-11-28T01:33:49.97974Z", "type": "acquired", "count": 1, "fence": 31, "holder": "lh-0"}');
INSERT INTO locker_history VALUES (57, 'log-only-1', '{"key": "lk-1", "lock": "log-only-1", "time": "2026-11-28T01:33:49.986077Z", "type": "acquired", "count": 1, "fence": 32, "holder": "lh-1"}');
INSERT INTO locker_history VALUES (58, 'log-only-2', '{"key": "lk-2", "lock": "log-only-2", "time": "2026-11-28T01:33:49.9918Z", "type": "acquired", "count": 1, "fence": 33, "holder": "lh-2"}');
INSERT INTO locker_history VALUES (59, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T01:33:49.999843Z", "type": "released", "count": 0, "fence": 17, "holder": "bh-0", "expires": "2036-11-25T01:33:49.431975Z"}');
INSERT INTO locker_history VALUES (60, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T01:33:50.004343Z", "type": "released", "count": 0, "fence": 18, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (61, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T01:33:50.008792Z", "type": "released", "count": 0, "fence": 19, "holder": "bh-2", "expires": "2036-11-25T01:33:49.439264Z"}');
INSERT INTO locker_history VALUES (62, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T01:33:50.012682Z", "type": "released", "count": 0, "fence": 20, "holder": "bh-3"}');
INSERT INTO locker_history VALUES (63, 'env-2', '{"key": "", "lock": "env-2", "pool": "envs", "time": "2026-11-28T01:33:50.01985Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (64, 'env-2', '{"key": "deployer-b", "lock": "env-2", "time": "2026-11-28T01:33:50.02764Z", "type": "acquired", "count": 1, "fence": 34, "pools": ["envs"], "holder": "pipeline-2", "expires": "2036-11-25T01:33:50.02764Z"}');


--
-- Data for Name: locker_locks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_locks VALUES ('log-only-2', 'lk-2', '{"lh-2": {"count": 1, "acquired": "2026-11-28T01:33:49.9918Z"}}', 33, '2026-11-28 01:33:49.9918+00', '2026-11-28 01:33:49.9918+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-00', '', 'null', 17, NULL, '2026-11-28 01:33:49.999843+00', '2026-11-28 01:33:49.999843+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-04', 'bk-4', '{"bh-4": {"count": 1, "expires": "2036-11-25T01:33:49.447614Z", "acquired": "2026-11-28T01:33:49.447614Z"}}', 21, '2026-11-28 01:33:49.447614+00', '2026-11-28 01:33:49.447614+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-05', 'bk-5', '{"bh-5": {"count": 1, "acquired": "2026-11-28T01:33:49.452375Z"}}', 22, '2026-11-28 01:33:49.452375+00', '2026-11-28 01:33:49.452375+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-06', 'bk-6', '{"bh-6": {"count": 1, "expires": "2036-11-25T01:33:49.455785Z", "acquired": "2026-11-28T01:33:49.455785Z"}}', 23, '2026-11-28 01:33:49.455785+00', '2026-11-28 01:33:49.455785+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-07', 'bk-7', '{"bh-7": {"count": 1, "acquired": "2026-11-28T01:33:49.462022Z"}}', 24, '2026-11-28 01:33:49.462022+00', '2026-11-28 01:33:49.462022+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-01', '', 'null', 18, NULL, '2026-11-28 01:33:50.004343+00', '2026-11-28 01:33:50.004343+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-08', 'bk-8', '{"bh-8": {"count": 1, "expires": "2036-11-25T01:33:49.467366Z", "acquired": "2026-11-28T01:33:49.467366Z"}}', 25, '2026-11-28 01:33:49.467366+00', '2026-11-28 01:33:49.467366+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('freed-after-hold', '', 'null', 9, NULL, '2026-11-28 01:33:49.349797+00', '2026-11-28 01:33:49.349797+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-09', 'bk-9', '{"bh-9": {"count": 1, "acquired": "2026-11-28T01:33:49.47142Z"}}', 26, '2026-11-28 01:33:49.47142+00', '2026-11-28 01:33:49.47142+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('forced', '', 'null', 10, NULL, '2026-11-28 01:33:49.367036+00', '2026-11-28 01:33:49.367036+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('café ☕ ünïcode', 'ключ', '{"持有者": {"count": 1, "acquired": "2026-11-28T01:33:49.37916Z"}}', 11, '2026-11-28 01:33:49.37916+00', '2026-11-28 01:33:49.37916+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('deploys/prod', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:49.391041Z"}}', 12, '2026-11-28 01:33:49.391041+00', '2026-11-28 01:33:49.391041+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('..', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:49.399702Z"}}', 13, '2026-11-28 01:33:49.399702+00', '2026-11-28 01:33:49.399702+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('what?#', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:49.407843Z"}}', 14, '2026-11-28 01:33:49.407843+00', '2026-11-28 01:33:49.407843+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('leased', 'lease', '{"renewer": {"count": 1, "expires": "2036-11-25T01:33:49.42465Z", "acquired": "2026-11-28T01:33:49.420436Z"}}', 15, '2026-11-28 01:33:49.420436+00', '2026-11-28 01:33:49.42465+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('no-lease', 'forever', '{"forever": {"count": 1, "acquired": "2026-11-28T01:33:49.428235Z"}}', 16, '2026-11-28 01:33:49.428235+00', '2026-11-28 01:33:49.428235+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-10', 'bk-10', '{"bh-10": {"count": 1, "expires": "2036-11-25T01:33:49.474968Z", "acquired": "2026-11-28T01:33:49.474968Z"}}', 27, '2026-11-28 01:33:49.474968+00', '2026-11-28 01:33:49.474968+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-11', 'bk-11', '{"bh-11": {"count": 1, "acquired": "2026-11-28T01:33:49.478431Z"}}', 28, '2026-11-28 01:33:49.478431+00', '2026-11-28 01:33:49.478431+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('env-3', '', 'null', 0, NULL, '2026-11-28 01:33:49.505818+00', '2026-11-28 01:33:49.490345+00', '{big,envs}', '{"nested": {"f": 1.5, "n": null, "s": "<&>"}}');
INSERT INTO locker_locks VALUES ('env-4', '', 'null', 0, NULL, '2026-11-28 01:33:49.526075+00', '2026-11-28 01:33:49.511292+00', '{}', '"plain string"');
INSERT INTO locker_locks VALUES ('big-1', '', 'null', 0, NULL, '2026-11-28 01:33:49.553244+00', '2026-11-28 01:33:49.553244+00', '{big}', '{"cpus": 64}');
INSERT INTO locker_locks VALUES ('env-1', 'deployer-a', '{"pipeline-1": {"count": 1, "expires": "2036-11-25T01:33:49.57599Z", "acquired": "2026-11-28T01:33:49.57599Z"}}', 29, '2026-11-28 01:33:49.57599+00', '2026-11-28 01:33:49.57599+00', NULL, '{envs}', '{"url": "https://env-1.example", "size": 3}');
INSERT INTO locker_locks VALUES ('deploy-prod', 'prod-7f3a', '{"ci-worker-1": {"count": 4, "expires": "2036-11-25T01:33:49.930728Z", "acquired": "2026-11-28T01:33:49.139057Z"}}', 1, '2026-11-28 01:33:49.139057+00', '2026-11-28 01:33:49.930728+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('db-migrations', 'readers', '{"reader-1": {"count": 1, "expires": "2036-11-25T01:33:49.167424Z", "acquired": "2026-11-28T01:33:49.167424Z"}, "reader-2": {"count": 2, "expires": "2036-11-25T01:33:49.20137Z", "acquired": "2026-11-28T01:33:49.17996Z"}}', 2, '2026-11-28 01:33:49.167424+00', '2026-11-28 01:33:49.941095+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-02', '', 'null', 19, NULL, '2026-11-28 01:33:50.008792+00', '2026-11-28 01:33:50.008792+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('fence-mover', 'k-after-snapshot', '{"later": {"count": 1, "expires": "2036-11-25T01:33:49.974437Z", "acquired": "2026-11-28T01:33:49.974437Z"}}', 30, '2026-11-28 01:33:49.974437+00', '2026-11-28 01:33:49.974437+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('log-only-0', 'lk-0', '{"lh-0": {"count": 1, "acquired": "2026-11-28T01:33:49.97974Z"}}', 31, '2026-11-28 01:33:49.97974+00', '2026-11-28 01:33:49.97974+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('log-only-1', 'lk-1', '{"lh-1": {"count": 1, "acquired": "2026-11-28T01:33:49.986077Z"}}', 32, '2026-11-28 01:33:49.986077+00', '2026-11-28 01:33:49.986077+00', NULL, '{}', NULL);
INSERT INTO locker_locks VALUES ('batch-03', '', 'null', 20, NULL, '2026-11-28 01:33:50.012682+00', '2026-11-28 01:33:50.012682+00', '{}', NULL);
INSERT INTO locker_locks VALUES ('env-2', 'deployer-b', '{"pipeline-2": {"count": 1, "expires": "2036-11-25T01:33:50.02764Z", "acquired": "2026-11-28T01:33:50.02764Z"}}', 34, '2026-11-28 01:33:50.02764+00', '2026-11-28 01:33:50.02764+00', NULL, '{envs}', '{"url": "https://env-2.example", "size": 6}');


--
-- Data for Name: locker_schema; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_schema VALUES (2);


--
-- Data for Name: locker_waiters; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: locker_fence; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_fence', 34, true);


--
-- Name: locker_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_history_id_seq', 64, true);


--
-- Name: locker_waiters_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_waiters_id_seq', 1, false);


--
-- Name: locker_history locker_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY locker_history
    ADD CONSTRAINT locker_history_pkey PRIMARY KEY (id);


--
-- Name: locker_locks locker_locks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY locker_locks
    ADD CONSTRAINT locker_locks_pkey PRIMARY KEY (name);


--
-- Name: locker_waiters locker_waiters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY locker_waiters
    ADD CONSTRAINT locker_waiters_pkey PRIMARY KEY (id);


--
-- Name: locker_history_name_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX locker_history_name_id ON locker_history USING btree (name, id);


--
-- Name: locker_locks_pools; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX locker_locks_pools ON locker_locks USING gin (pools);


--
-- Name: locker_waiters_name_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX locker_waiters_name_id ON locker_waiters USING btree (name, id);


--
-- Name: locker_waiters_replica; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX locker_waiters_replica ON locker_waiters USING btree (replica);


--
-- PostgreSQL database dump complete
--


