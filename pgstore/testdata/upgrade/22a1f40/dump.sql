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
-- Name: locker_bump_version(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION locker_bump_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
	BEGIN
		NEW.version := OLD.version + 1;
		RETURN NEW;
	END $$;


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
    metadata jsonb,
    version bigint DEFAULT 0 NOT NULL
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
    heartbeat timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    kept_until timestamp with time zone,
    joined timestamp with time zone DEFAULT clock_timestamp() NOT NULL
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

INSERT INTO locker_history VALUES (1, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T04:36:01.646978Z", "type": "acquired", "count": 1, "fence": 2, "holder": "ci-worker-1", "expires": "2036-11-25T04:36:01.646978Z"}');
INSERT INTO locker_history VALUES (2, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T04:36:01.650281Z", "type": "acquired", "count": 2, "fence": 2, "holder": "ci-worker-1", "expires": "2036-11-25T04:36:01.650281Z"}');
INSERT INTO locker_history VALUES (3, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T04:36:01.660635Z", "type": "acquired", "count": 3, "fence": 2, "holder": "ci-worker-1", "expires": "2036-11-25T04:36:01.660635Z"}');
INSERT INTO locker_history VALUES (4, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T04:36:01.665816Z", "type": "acquired", "count": 1, "fence": 3, "holder": "reader-1", "expires": "2036-11-25T04:36:01.665816Z"}');
INSERT INTO locker_history VALUES (5, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T04:36:01.667454Z", "type": "acquired", "count": 1, "fence": 3, "holder": "reader-2", "expires": "2036-11-25T04:36:01.667454Z"}');
INSERT INTO locker_history VALUES (6, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T04:36:01.669122Z", "type": "acquired", "count": 1, "fence": 3, "holder": "reader-3", "expires": "2036-11-25T04:36:01.669122Z"}');
INSERT INTO locker_history VALUES (7, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T04:36:01.671561Z", "type": "acquired", "count": 2, "fence": 3, "holder": "reader-2", "expires": "2036-11-25T04:36:01.671561Z"}');
INSERT INTO locker_history VALUES (8, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T04:36:01.673221Z", "type": "acquired", "count": 1, "fence": 4, "holder": "h-0"}');
INSERT INTO locker_history VALUES (9, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T04:36:01.675626Z", "type": "released", "count": 0, "fence": 4, "holder": "h-0"}');
INSERT INTO locker_history VALUES (10, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T04:36:01.677044Z", "type": "acquired", "count": 1, "fence": 5, "holder": "h-1"}');
INSERT INTO locker_history VALUES (11, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T04:36:01.678346Z", "type": "released", "count": 0, "fence": 5, "holder": "h-1"}');
INSERT INTO locker_history VALUES (12, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T04:36:01.67932Z", "type": "acquired", "count": 1, "fence": 6, "holder": "h-2"}');
INSERT INTO locker_history VALUES (13, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T04:36:01.680292Z", "type": "released", "count": 0, "fence": 6, "holder": "h-2"}');
INSERT INTO locker_history VALUES (14, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T04:36:01.681736Z", "type": "acquired", "count": 1, "fence": 7, "holder": "h-3"}');
INSERT INTO locker_history VALUES (15, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T04:36:01.682813Z", "type": "released", "count": 0, "fence": 7, "holder": "h-3"}');
INSERT INTO locker_history VALUES (16, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T04:36:01.685074Z", "type": "acquired", "count": 1, "fence": 8, "holder": "h-4"}');
INSERT INTO locker_history VALUES (17, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T04:36:01.687285Z", "type": "released", "count": 0, "fence": 8, "holder": "h-4"}');
INSERT INTO locker_history VALUES (18, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T04:36:01.688811Z", "type": "acquired", "count": 1, "fence": 9, "holder": "final"}');
INSERT INTO locker_history VALUES (19, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T04:36:01.690127Z", "type": "acquired", "count": 1, "fence": 10, "holder": "was-here"}');
INSERT INTO locker_history VALUES (20, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T04:36:01.691339Z", "type": "acquired", "count": 2, "fence": 10, "holder": "was-here"}');
INSERT INTO locker_history VALUES (21, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T04:36:01.692543Z", "type": "released", "count": 1, "fence": 10, "holder": "was-here"}');
INSERT INTO locker_history VALUES (22, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T04:36:01.693678Z", "type": "released", "count": 0, "fence": 10, "holder": "was-here"}');
INSERT INTO locker_history VALUES (23, 'forced', '{"key": "stuck", "lock": "forced", "time": "2026-11-28T04:36:01.694779Z", "type": "acquired", "count": 1, "fence": 11, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (24, 'forced', '{"by": "admin", "key": "stuck", "lock": "forced", "time": "2026-11-28T04:36:01.695979Z", "type": "forced", "count": 0, "fence": 11, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (25, 'café ☕ ünïcode', '{"key": "ключ", "lock": "café ☕ ünïcode", "time": "2026-11-28T04:36:01.697309Z", "type": "acquired", "count": 1, "fence": 12, "holder": "持有者"}');
INSERT INTO locker_history VALUES (26, 'deploys/prod', '{"key": "odd", "lock": "deploys/prod", "time": "2026-11-28T04:36:01.698395Z", "type": "acquired", "count": 1, "fence": 13, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (27, '..', '{"key": "odd", "lock": "..", "time": "2026-11-28T04:36:01.69938Z", "type": "acquired", "count": 1, "fence": 14, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (28, 'what?#', '{"key": "odd", "lock": "what?#", "time": "2026-11-28T04:36:01.700187Z", "type": "acquired", "count": 1, "fence": 15, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (29, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T04:36:01.701504Z", "type": "acquired", "count": 1, "fence": 16, "holder": "renewer", "expires": "2027-01-08T20:36:01.701504Z"}');
INSERT INTO locker_history VALUES (30, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T04:36:01.702529Z", "type": "refreshed", "count": 1, "fence": 16, "holder": "renewer", "expires": "2036-11-25T04:36:01.702529Z"}');
INSERT INTO locker_history VALUES (31, 'no-lease', '{"key": "forever", "lock": "no-lease", "time": "2026-11-28T04:36:01.703547Z", "type": "acquired", "count": 1, "fence": 17, "holder": "forever"}');
INSERT INTO locker_history VALUES (39, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T04:36:01.715418Z", "type": "acquired", "count": 1, "fence": 23, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (40, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T04:36:01.716346Z", "type": "acquired", "count": 1, "fence": 24, "holder": "bh-2", "expires": "2036-11-25T04:36:01.716346Z"}');
INSERT INTO locker_history VALUES (41, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T04:36:01.717422Z", "type": "acquired", "count": 1, "fence": 25, "holder": "bh-3"}');
INSERT INTO locker_history VALUES (45, 'batch-07', '{"key": "bk-7", "lock": "batch-07", "time": "2026-11-28T04:36:01.721603Z", "type": "acquired", "count": 1, "fence": 29, "holder": "bh-7"}');
INSERT INTO locker_history VALUES (46, 'batch-08', '{"key": "bk-8", "lock": "batch-08", "time": "2026-11-28T04:36:01.722313Z", "type": "acquired", "count": 1, "fence": 30, "holder": "bh-8", "expires": "2036-11-25T04:36:01.722313Z"}');
INSERT INTO locker_history VALUES (47, 'batch-09', '{"key": "bk-9", "lock": "batch-09", "time": "2026-11-28T04:36:01.723205Z", "type": "acquired", "count": 1, "fence": 31, "holder": "bh-9"}');
INSERT INTO locker_history VALUES (52, 'env-3', '{"key": "", "lock": "env-3", "pool": "envs", "time": "2026-11-28T04:36:01.729154Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (53, 'env-3', '{"key": "", "lock": "env-3", "pool": "big", "time": "2026-11-28T04:36:01.730251Z", "type": "added", "count": 0, "fence": 0, "pools": ["big", "envs"], "holder": ""}');
INSERT INTO locker_history VALUES (55, 'env-4', '{"by": "admin", "key": "", "lock": "env-4", "pool": "envs", "time": "2026-11-28T04:36:01.732864Z", "type": "removed", "count": 0, "fence": 0, "holder": ""}');
INSERT INTO locker_history VALUES (38, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T04:36:01.714008Z", "type": "acquired", "count": 1, "fence": 22, "holder": "bh-0", "expires": "2036-11-25T04:36:01.714008Z"}');
INSERT INTO locker_history VALUES (42, 'batch-04', '{"key": "bk-4", "lock": "batch-04", "time": "2026-11-28T04:36:01.718543Z", "type": "acquired", "count": 1, "fence": 26, "holder": "bh-4", "expires": "2036-11-25T04:36:01.718543Z"}');
INSERT INTO locker_history VALUES (43, 'batch-05', '{"key": "bk-5", "lock": "batch-05", "time": "2026-11-28T04:36:01.71951Z", "type": "acquired", "count": 1, "fence": 27, "holder": "bh-5"}');
INSERT INTO locker_history VALUES (44, 'batch-06', '{"key": "bk-6", "lock": "batch-06", "time": "2026-11-28T04:36:01.720374Z", "type": "acquired", "count": 1, "fence": 28, "holder": "bh-6", "expires": "2036-11-25T04:36:01.720374Z"}');
INSERT INTO locker_history VALUES (48, 'batch-10', '{"key": "bk-10", "lock": "batch-10", "time": "2026-11-28T04:36:01.724382Z", "type": "acquired", "count": 1, "fence": 32, "holder": "bh-10", "expires": "2036-11-25T04:36:01.724382Z"}');
INSERT INTO locker_history VALUES (49, 'batch-11', '{"key": "bk-11", "lock": "batch-11", "time": "2026-11-28T04:36:01.725211Z", "type": "acquired", "count": 1, "fence": 33, "holder": "bh-11"}');
INSERT INTO locker_history VALUES (50, 'env-1', '{"key": "", "lock": "env-1", "pool": "envs", "time": "2026-11-28T04:36:01.726334Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (51, 'env-2', '{"key": "", "lock": "env-2", "pool": "envs", "time": "2026-11-28T04:36:01.728094Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (54, 'env-4', '{"key": "", "lock": "env-4", "pool": "envs", "time": "2026-11-28T04:36:01.731574Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (56, 'big-1', '{"key": "", "lock": "big-1", "pool": "big", "time": "2026-11-28T04:36:01.733986Z", "type": "added", "count": 0, "fence": 0, "pools": ["big"], "holder": ""}');
INSERT INTO locker_history VALUES (57, 'env-1', '{"key": "deployer-a", "lock": "env-1", "time": "2026-11-28T04:36:01.73602Z", "type": "acquired", "count": 1, "fence": 41, "pools": ["envs"], "holder": "pipeline-1", "expires": "2036-11-25T04:36:01.73602Z"}');
INSERT INTO locker_history VALUES (58, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T04:36:01.858997Z", "type": "acquired", "count": 4, "fence": 2, "holder": "ci-worker-1", "expires": "2036-11-25T04:36:01.858997Z"}');
INSERT INTO locker_history VALUES (59, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T04:36:01.863573Z", "type": "released", "count": 0, "fence": 3, "holder": "reader-3"}');
INSERT INTO locker_history VALUES (60, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T04:36:01.865268Z", "type": "released", "count": 0, "fence": 9, "holder": "final"}');
INSERT INTO locker_history VALUES (61, 'fence-mover', '{"key": "k-after-snapshot", "lock": "fence-mover", "time": "2026-11-28T04:36:01.866795Z", "type": "acquired", "count": 1, "fence": 42, "holder": "later", "expires": "2036-11-25T04:36:01.866795Z"}');
INSERT INTO locker_history VALUES (62, 'log-only-0', '{"key": "lk-0", "lock": "log-only-0", "time": "2026-11-28T04:36:01.876642Z", "type": "acquired", "count": 1, "fence": 43, "holder": "lh-0"}');
INSERT INTO locker_history VALUES (63, 'log-only-1', '{"key": "lk-1", "lock": "log-only-1", "time": "2026-11-28T04:36:01.880704Z", "type": "acquired", "count": 1, "fence": 44, "holder": "lh-1"}');
INSERT INTO locker_history VALUES (64, 'log-only-2', '{"key": "lk-2", "lock": "log-only-2", "time": "2026-11-28T04:36:01.883809Z", "type": "acquired", "count": 1, "fence": 45, "holder": "lh-2"}');
INSERT INTO locker_history VALUES (65, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T04:36:01.88585Z", "type": "released", "count": 0, "fence": 22, "holder": "bh-0"}');
INSERT INTO locker_history VALUES (66, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T04:36:01.891072Z", "type": "released", "count": 0, "fence": 23, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (67, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T04:36:01.893464Z", "type": "released", "count": 0, "fence": 24, "holder": "bh-2"}');
INSERT INTO locker_history VALUES (68, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T04:36:01.897677Z", "type": "released", "count": 0, "fence": 25, "holder": "bh-3"}');
INSERT INTO locker_history VALUES (69, 'env-2', '{"key": "", "lock": "env-2", "pool": "envs", "time": "2026-11-28T04:36:01.900882Z", "type": "added", "count": 0, "fence": 0, "pools": ["envs"], "holder": ""}');
INSERT INTO locker_history VALUES (70, 'env-2', '{"key": "deployer-b", "lock": "env-2", "time": "2026-11-28T04:36:01.905091Z", "type": "acquired", "count": 1, "fence": 47, "pools": ["envs"], "holder": "pipeline-2", "expires": "2036-11-25T04:36:01.905091Z"}');
INSERT INTO locker_history VALUES (71, 'forgotten-retaken', '{"key": "second-life", "lock": "forgotten-retaken", "time": "2026-11-28T04:36:01.910453Z", "type": "acquired", "count": 1, "fence": 50, "holder": "after-forget", "expires": "2036-11-25T04:36:01.910453Z"}');
INSERT INTO locker_history VALUES (72, 'forgotten-early', '{"key": "second-life", "lock": "forgotten-early", "time": "2026-11-28T04:36:01.912565Z", "type": "acquired", "count": 1, "fence": 51, "holder": "after-snapshot"}');
INSERT INTO locker_history VALUES (73, 'forgotten-early', '{"key": "second-life", "lock": "forgotten-early", "time": "2026-11-28T04:36:01.914811Z", "type": "released", "count": 0, "fence": 51, "holder": "after-snapshot"}');
INSERT INTO locker_history VALUES (74, 'env-3', '{"key": "deployer-c", "lock": "env-3", "time": "2026-11-28T04:36:01.917387Z", "type": "acquired", "count": 1, "fence": 52, "pools": ["big", "envs"], "holder": "pipeline-3", "expires": "2036-11-25T04:36:01.917387Z"}');


--
-- Data for Name: locker_locks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_locks VALUES ('fence-mover', 'k-after-snapshot', '{"later": {"count": 1, "expires": "2036-11-25T04:36:01.866795Z", "acquired": "2026-11-28T04:36:01.866795Z"}}', 42, '2026-11-28 04:36:01.866795+00', '2026-11-28 04:36:01.866795+00', NULL, '{}', NULL, 13);
INSERT INTO locker_locks VALUES ('batch-04', 'bk-4', '{"bh-4": {"count": 1, "expires": "2036-11-25T04:36:01.718543Z", "acquired": "2026-11-28T04:36:01.718543Z"}}', 26, '2026-11-28 04:36:01.718543+00', '2026-11-28 04:36:01.718543+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-05', 'bk-5', '{"bh-5": {"count": 1, "acquired": "2026-11-28T04:36:01.71951Z"}}', 27, '2026-11-28 04:36:01.71951+00', '2026-11-28 04:36:01.71951+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-06', 'bk-6', '{"bh-6": {"count": 1, "expires": "2036-11-25T04:36:01.720374Z", "acquired": "2026-11-28T04:36:01.720374Z"}}', 28, '2026-11-28 04:36:01.720374+00', '2026-11-28 04:36:01.720374+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-07', 'bk-7', '{"bh-7": {"count": 1, "acquired": "2026-11-28T04:36:01.721603Z"}}', 29, '2026-11-28 04:36:01.721603+00', '2026-11-28 04:36:01.721603+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-08', 'bk-8', '{"bh-8": {"count": 1, "expires": "2036-11-25T04:36:01.722313Z", "acquired": "2026-11-28T04:36:01.722313Z"}}', 30, '2026-11-28 04:36:01.722313+00', '2026-11-28 04:36:01.722313+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-09', 'bk-9', '{"bh-9": {"count": 1, "acquired": "2026-11-28T04:36:01.723205Z"}}', 31, '2026-11-28 04:36:01.723205+00', '2026-11-28 04:36:01.723205+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-10', 'bk-10', '{"bh-10": {"count": 1, "expires": "2036-11-25T04:36:01.724382Z", "acquired": "2026-11-28T04:36:01.724382Z"}}', 32, '2026-11-28 04:36:01.724382+00', '2026-11-28 04:36:01.724382+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('env-2', 'deployer-b', '{"pipeline-2": {"count": 1, "expires": "2036-11-25T04:36:01.905091Z", "acquired": "2026-11-28T04:36:01.905091Z"}}', 47, '2026-11-28 04:36:01.905091+00', '2026-11-28 04:36:01.905091+00', NULL, '{envs}', '{"url": "https://env-2.example", "size": 6}', 3);
INSERT INTO locker_locks VALUES ('batch-11', 'bk-11', '{"bh-11": {"count": 1, "acquired": "2026-11-28T04:36:01.725211Z"}}', 33, '2026-11-28 04:36:01.725211+00', '2026-11-28 04:36:01.725211+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('freed-after-hold', '', 'null', 10, NULL, '2026-11-28 04:36:01.693678+00', '2026-11-28 04:36:01.693678+00', '{}', NULL, 4);
INSERT INTO locker_locks VALUES ('forced', '', 'null', 11, NULL, '2026-11-28 04:36:01.695979+00', '2026-11-28 04:36:01.695979+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('café ☕ ünïcode', 'ключ', '{"持有者": {"count": 1, "acquired": "2026-11-28T04:36:01.697309Z"}}', 12, '2026-11-28 04:36:01.697309+00', '2026-11-28 04:36:01.697309+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('deploys/prod', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T04:36:01.698395Z"}}', 13, '2026-11-28 04:36:01.698395+00', '2026-11-28 04:36:01.698395+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('..', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T04:36:01.69938Z"}}', 14, '2026-11-28 04:36:01.69938+00', '2026-11-28 04:36:01.69938+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('what?#', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T04:36:01.700187Z"}}', 15, '2026-11-28 04:36:01.700187+00', '2026-11-28 04:36:01.700187+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('leased', 'lease', '{"renewer": {"count": 1, "expires": "2036-11-25T04:36:01.702529Z", "acquired": "2026-11-28T04:36:01.701504Z"}}', 16, '2026-11-28 04:36:01.701504+00', '2026-11-28 04:36:01.702529+00', NULL, '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('no-lease', 'forever', '{"forever": {"count": 1, "acquired": "2026-11-28T04:36:01.703547Z"}}', 17, '2026-11-28 04:36:01.703547+00', '2026-11-28 04:36:01.703547+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('env-4', '', 'null', 0, NULL, '2026-11-28 04:36:01.732864+00', '2026-11-28 04:36:01.731574+00', '{}', '"plain string"', 2);
INSERT INTO locker_locks VALUES ('big-1', '', 'null', 0, NULL, '2026-11-28 04:36:01.733986+00', '2026-11-28 04:36:01.733986+00', '{big}', '{"cpus": 64}', 1);
INSERT INTO locker_locks VALUES ('env-1', 'deployer-a', '{"pipeline-1": {"count": 1, "expires": "2036-11-25T04:36:01.73602Z", "acquired": "2026-11-28T04:36:01.73602Z"}}', 41, '2026-11-28 04:36:01.73602+00', '2026-11-28 04:36:01.73602+00', NULL, '{envs}', '{"url": "https://env-1.example", "size": 3}', 2);
INSERT INTO locker_locks VALUES ('deploy-prod', 'prod-7f3a', '{"ci-worker-1": {"count": 4, "expires": "2036-11-25T04:36:01.858997Z", "acquired": "2026-11-28T04:36:01.646978Z"}}', 2, '2026-11-28 04:36:01.646978+00', '2026-11-28 04:36:01.858997+00', NULL, '{}', NULL, 4);
INSERT INTO locker_locks VALUES ('db-migrations', 'readers', '{"reader-1": {"count": 1, "expires": "2036-11-25T04:36:01.665816Z", "acquired": "2026-11-28T04:36:01.665816Z"}, "reader-2": {"count": 2, "expires": "2036-11-25T04:36:01.671561Z", "acquired": "2026-11-28T04:36:01.667454Z"}}', 3, '2026-11-28 04:36:01.665816+00', '2026-11-28 04:36:01.863573+00', NULL, '{}', NULL, 5);
INSERT INTO locker_locks VALUES ('log-only-0', 'lk-0', '{"lh-0": {"count": 1, "acquired": "2026-11-28T04:36:01.876642Z"}}', 43, '2026-11-28 04:36:01.876642+00', '2026-11-28 04:36:01.876642+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('log-only-1', 'lk-1', '{"lh-1": {"count": 1, "acquired": "2026-11-28T04:36:01.880704Z"}}', 44, '2026-11-28 04:36:01.880704+00', '2026-11-28 04:36:01.880704+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('log-only-2', 'lk-2', '{"lh-2": {"count": 1, "acquired": "2026-11-28T04:36:01.883809Z"}}', 45, '2026-11-28 04:36:01.883809+00', '2026-11-28 04:36:01.883809+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('batch-00', '', 'null', 22, NULL, '2026-11-28 04:36:01.88585+00', '2026-11-28 04:36:01.88585+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('batch-01', '', 'null', 23, NULL, '2026-11-28 04:36:01.891072+00', '2026-11-28 04:36:01.891072+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('batch-02', '', 'null', 24, NULL, '2026-11-28 04:36:01.893464+00', '2026-11-28 04:36:01.893464+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('batch-03', '', 'null', 25, NULL, '2026-11-28 04:36:01.897677+00', '2026-11-28 04:36:01.897677+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('forgotten-retaken', 'second-life', '{"after-forget": {"count": 1, "expires": "2036-11-25T04:36:01.910453Z", "acquired": "2026-11-28T04:36:01.910453Z"}}', 50, '2026-11-28 04:36:01.910453+00', '2026-11-28 04:36:01.910453+00', NULL, '{}', NULL, 1);
INSERT INTO locker_locks VALUES ('forgotten-early', '', 'null', 51, NULL, '2026-11-28 04:36:01.914811+00', '2026-11-28 04:36:01.914811+00', '{}', NULL, 2);
INSERT INTO locker_locks VALUES ('env-3', 'deployer-c', '{"pipeline-3": {"count": 1, "expires": "2036-11-25T04:36:01.917387Z", "acquired": "2026-11-28T04:36:01.917387Z"}}', 52, '2026-11-28 04:36:01.917387+00', '2026-11-28 04:36:01.917387+00', NULL, '{big,envs}', '{"nested": {"f": 1.5, "n": null, "s": "<&>"}}', 3);


--
-- Data for Name: locker_schema; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_schema VALUES (5);


--
-- Data for Name: locker_waiters; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_waiters VALUES (3, 'db-migrations', 'schema-change', 'migrator', 'vm-14858-d454bd11', '2026-11-28 04:36:02.019556+00', '2026-11-28 04:36:07.149349+00', '2026-11-28 04:36:02.019557+00');
INSERT INTO locker_waiters VALUES (4, 'db-migrations', 'readers', 'reader-4', 'vm-14858-d454bd11', '2026-11-28 04:36:02.042799+00', '2026-11-28 04:36:07.152626+00', '2026-11-28 04:36:02.042799+00');
INSERT INTO locker_waiters VALUES (2, 'deploy-prod', 'prod-later', 'ci-worker-3', 'vm-14858-d454bd11', '2026-11-28 04:36:01.995583+00', '2026-11-28 04:36:07.175602+00', '2026-11-28 04:36:01.995583+00');
INSERT INTO locker_waiters VALUES (7, 'poolenvs', 'deployer-d', 'pipeline-4', 'vm-14858-d454bd11', '2026-11-28 04:36:02.120777+00', '2026-11-28 04:36:07.193697+00', '2026-11-28 04:36:02.120777+00');
INSERT INTO locker_waiters VALUES (5, 'fence-mover', 'k-next', 'next', 'vm-14858-d454bd11', '2026-11-28 04:36:02.068737+00', '2026-11-28 04:36:07.198449+00', '2026-11-28 04:36:02.068737+00');
INSERT INTO locker_waiters VALUES (1, 'deploy-prod', 'prod-next', 'ci-worker-2', 'vm-14858-d454bd11', '2026-11-28 04:36:01.973104+00', '2026-11-28 04:36:07.223258+00', '2026-11-28 04:36:01.973104+00');
INSERT INTO locker_waiters VALUES (6, 'forgotten-retaken', 'third-life', 'waiting', 'vm-14858-d454bd11', '2026-11-28 04:36:02.093813+00', '2026-11-28 04:36:07.234688+00', '2026-11-28 04:36:02.093813+00');


--
-- Name: locker_fence; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_fence', 52, true);


--
-- Name: locker_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_history_id_seq', 74, true);


--
-- Name: locker_waiters_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_waiters_id_seq', 7, true);


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
-- Name: locker_locks locker_locks_version; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER locker_locks_version BEFORE UPDATE ON locker_locks FOR EACH ROW EXECUTE FUNCTION locker_bump_version();


--
-- PostgreSQL database dump complete
--


