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
    updated_at timestamp with time zone DEFAULT now() NOT NULL
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

INSERT INTO locker_history VALUES (1, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:46.105333Z", "type": "acquired", "count": 1, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:46.105333Z"}');
INSERT INTO locker_history VALUES (2, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:46.171943Z", "type": "acquired", "count": 2, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:46.171943Z"}');
INSERT INTO locker_history VALUES (3, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:46.178142Z", "type": "acquired", "count": 3, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:46.178142Z"}');
INSERT INTO locker_history VALUES (4, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:46.18245Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-1", "expires": "2036-11-25T01:33:46.18245Z"}');
INSERT INTO locker_history VALUES (5, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:46.249915Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-2", "expires": "2036-11-25T01:33:46.249915Z"}');
INSERT INTO locker_history VALUES (6, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:46.312005Z", "type": "acquired", "count": 1, "fence": 2, "holder": "reader-3", "expires": "2036-11-25T01:33:46.312005Z"}');
INSERT INTO locker_history VALUES (7, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:46.318159Z", "type": "acquired", "count": 2, "fence": 2, "holder": "reader-2", "expires": "2036-11-25T01:33:46.318159Z"}');
INSERT INTO locker_history VALUES (8, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T01:33:46.330123Z", "type": "acquired", "count": 1, "fence": 3, "holder": "h-0"}');
INSERT INTO locker_history VALUES (9, 'fence-mover', '{"key": "k-0", "lock": "fence-mover", "time": "2026-11-28T01:33:46.359762Z", "type": "released", "count": 0, "fence": 3, "holder": "h-0"}');
INSERT INTO locker_history VALUES (10, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T01:33:46.365187Z", "type": "acquired", "count": 1, "fence": 4, "holder": "h-1"}');
INSERT INTO locker_history VALUES (11, 'fence-mover', '{"key": "k-1", "lock": "fence-mover", "time": "2026-11-28T01:33:46.376113Z", "type": "released", "count": 0, "fence": 4, "holder": "h-1"}');
INSERT INTO locker_history VALUES (12, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T01:33:46.38457Z", "type": "acquired", "count": 1, "fence": 5, "holder": "h-2"}');
INSERT INTO locker_history VALUES (13, 'fence-mover', '{"key": "k-2", "lock": "fence-mover", "time": "2026-11-28T01:33:46.518976Z", "type": "released", "count": 0, "fence": 5, "holder": "h-2"}');
INSERT INTO locker_history VALUES (14, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T01:33:46.521882Z", "type": "acquired", "count": 1, "fence": 6, "holder": "h-3"}');
INSERT INTO locker_history VALUES (15, 'fence-mover', '{"key": "k-3", "lock": "fence-mover", "time": "2026-11-28T01:33:46.527867Z", "type": "released", "count": 0, "fence": 6, "holder": "h-3"}');
INSERT INTO locker_history VALUES (16, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T01:33:46.531159Z", "type": "acquired", "count": 1, "fence": 7, "holder": "h-4"}');
INSERT INTO locker_history VALUES (17, 'fence-mover', '{"key": "k-4", "lock": "fence-mover", "time": "2026-11-28T01:33:46.535798Z", "type": "released", "count": 0, "fence": 7, "holder": "h-4"}');
INSERT INTO locker_history VALUES (18, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T01:33:46.538422Z", "type": "acquired", "count": 1, "fence": 8, "holder": "final"}');
INSERT INTO locker_history VALUES (19, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:46.550887Z", "type": "acquired", "count": 1, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (20, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:46.555037Z", "type": "acquired", "count": 2, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (21, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:46.559139Z", "type": "released", "count": 1, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (22, 'freed-after-hold', '{"key": "gone", "lock": "freed-after-hold", "time": "2026-11-28T01:33:46.562776Z", "type": "released", "count": 0, "fence": 9, "holder": "was-here"}');
INSERT INTO locker_history VALUES (23, 'forced', '{"key": "stuck", "lock": "forced", "time": "2026-11-28T01:33:46.569047Z", "type": "acquired", "count": 1, "fence": 10, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (24, 'forced', '{"by": "admin", "key": "stuck", "lock": "forced", "time": "2026-11-28T01:33:46.572434Z", "type": "forced", "count": 0, "fence": 10, "holder": "dead-job"}');
INSERT INTO locker_history VALUES (25, 'café ☕ ünïcode', '{"key": "ключ", "lock": "café ☕ ünïcode", "time": "2026-11-28T01:33:46.587353Z", "type": "acquired", "count": 1, "fence": 11, "holder": "持有者"}');
INSERT INTO locker_history VALUES (26, 'deploys/prod', '{"key": "odd", "lock": "deploys/prod", "time": "2026-11-28T01:33:46.58992Z", "type": "acquired", "count": 1, "fence": 12, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (27, '..', '{"key": "odd", "lock": "..", "time": "2026-11-28T01:33:46.592605Z", "type": "acquired", "count": 1, "fence": 13, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (28, 'what?#', '{"key": "odd", "lock": "what?#", "time": "2026-11-28T01:33:46.623342Z", "type": "acquired", "count": 1, "fence": 14, "holder": "odd-holder"}');
INSERT INTO locker_history VALUES (29, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T01:33:46.628567Z", "type": "acquired", "count": 1, "fence": 15, "holder": "renewer", "expires": "2027-01-08T17:33:46.628567Z"}');
INSERT INTO locker_history VALUES (30, 'leased', '{"key": "lease", "lock": "leased", "time": "2026-11-28T01:33:46.635455Z", "type": "refreshed", "count": 1, "fence": 15, "holder": "renewer", "expires": "2036-11-25T01:33:46.635455Z"}');
INSERT INTO locker_history VALUES (31, 'no-lease', '{"key": "forever", "lock": "no-lease", "time": "2026-11-28T01:33:46.64081Z", "type": "acquired", "count": 1, "fence": 16, "holder": "forever"}');
INSERT INTO locker_history VALUES (32, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T01:33:46.647648Z", "type": "acquired", "count": 1, "fence": 17, "holder": "bh-0", "expires": "2036-11-25T01:33:46.647648Z"}');
INSERT INTO locker_history VALUES (33, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T01:33:46.653088Z", "type": "acquired", "count": 1, "fence": 18, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (34, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T01:33:46.663242Z", "type": "acquired", "count": 1, "fence": 19, "holder": "bh-2", "expires": "2036-11-25T01:33:46.663242Z"}');
INSERT INTO locker_history VALUES (35, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T01:33:46.675721Z", "type": "acquired", "count": 1, "fence": 20, "holder": "bh-3"}');
INSERT INTO locker_history VALUES (36, 'batch-04', '{"key": "bk-4", "lock": "batch-04", "time": "2026-11-28T01:33:46.679696Z", "type": "acquired", "count": 1, "fence": 21, "holder": "bh-4", "expires": "2036-11-25T01:33:46.679696Z"}');
INSERT INTO locker_history VALUES (37, 'batch-05', '{"key": "bk-5", "lock": "batch-05", "time": "2026-11-28T01:33:46.683377Z", "type": "acquired", "count": 1, "fence": 22, "holder": "bh-5"}');
INSERT INTO locker_history VALUES (38, 'batch-06', '{"key": "bk-6", "lock": "batch-06", "time": "2026-11-28T01:33:46.6882Z", "type": "acquired", "count": 1, "fence": 23, "holder": "bh-6", "expires": "2036-11-25T01:33:46.6882Z"}');
INSERT INTO locker_history VALUES (39, 'batch-07', '{"key": "bk-7", "lock": "batch-07", "time": "2026-11-28T01:33:46.692611Z", "type": "acquired", "count": 1, "fence": 24, "holder": "bh-7"}');
INSERT INTO locker_history VALUES (40, 'batch-08', '{"key": "bk-8", "lock": "batch-08", "time": "2026-11-28T01:33:46.708373Z", "type": "acquired", "count": 1, "fence": 25, "holder": "bh-8", "expires": "2036-11-25T01:33:46.708373Z"}');
INSERT INTO locker_history VALUES (41, 'batch-09', '{"key": "bk-9", "lock": "batch-09", "time": "2026-11-28T01:33:46.720001Z", "type": "acquired", "count": 1, "fence": 26, "holder": "bh-9"}');
INSERT INTO locker_history VALUES (42, 'batch-10', '{"key": "bk-10", "lock": "batch-10", "time": "2026-11-28T01:33:46.785182Z", "type": "acquired", "count": 1, "fence": 27, "holder": "bh-10", "expires": "2036-11-25T01:33:46.785182Z"}');
INSERT INTO locker_history VALUES (43, 'batch-11', '{"key": "bk-11", "lock": "batch-11", "time": "2026-11-28T01:33:46.797207Z", "type": "acquired", "count": 1, "fence": 28, "holder": "bh-11"}');
INSERT INTO locker_history VALUES (44, 'deploy-prod', '{"key": "prod-7f3a", "lock": "deploy-prod", "time": "2026-11-28T01:33:46.917423Z", "type": "acquired", "count": 4, "fence": 1, "holder": "ci-worker-1", "expires": "2036-11-25T01:33:46.917423Z"}');
INSERT INTO locker_history VALUES (45, 'db-migrations', '{"key": "readers", "lock": "db-migrations", "time": "2026-11-28T01:33:46.921703Z", "type": "released", "count": 0, "fence": 2, "holder": "reader-3", "expires": "2036-11-25T01:33:46.312005Z"}');
INSERT INTO locker_history VALUES (46, 'fence-mover', '{"key": "k-final", "lock": "fence-mover", "time": "2026-11-28T01:33:46.924734Z", "type": "released", "count": 0, "fence": 8, "holder": "final"}');
INSERT INTO locker_history VALUES (47, 'fence-mover', '{"key": "k-after-snapshot", "lock": "fence-mover", "time": "2026-11-28T01:33:46.929616Z", "type": "acquired", "count": 1, "fence": 29, "holder": "later", "expires": "2036-11-25T01:33:46.929616Z"}');
INSERT INTO locker_history VALUES (48, 'log-only-0', '{"key": "lk-0", "lock": "log-only-0", "time": "2026-11-28T01:33:46.93512Z", "type": "acquired", "count": 1, "fence": 30, "holder": "lh-0"}');
INSERT INTO locker_history VALUES (49, 'log-only-1', '{"key": "lk-1", "lock": "log-only-1", "time": "2026-11-28T01:33:46.939419Z", "type": "acquired", "count": 1, "fence": 31, "holder": "lh-1"}');
INSERT INTO locker_history VALUES (50, 'log-only-2', '{"key": "lk-2", "lock": "log-only-2", "time": "2026-11-28T01:33:46.942346Z", "type": "acquired", "count": 1, "fence": 32, "holder": "lh-2"}');
INSERT INTO locker_history VALUES (51, 'batch-00', '{"key": "bk-0", "lock": "batch-00", "time": "2026-11-28T01:33:46.94511Z", "type": "released", "count": 0, "fence": 17, "holder": "bh-0", "expires": "2036-11-25T01:33:46.647648Z"}');
INSERT INTO locker_history VALUES (52, 'batch-01', '{"key": "bk-1", "lock": "batch-01", "time": "2026-11-28T01:33:46.94749Z", "type": "released", "count": 0, "fence": 18, "holder": "bh-1"}');
INSERT INTO locker_history VALUES (53, 'batch-02', '{"key": "bk-2", "lock": "batch-02", "time": "2026-11-28T01:33:46.949953Z", "type": "released", "count": 0, "fence": 19, "holder": "bh-2", "expires": "2036-11-25T01:33:46.663242Z"}');
INSERT INTO locker_history VALUES (54, 'batch-03', '{"key": "bk-3", "lock": "batch-03", "time": "2026-11-28T01:33:46.953473Z", "type": "released", "count": 0, "fence": 20, "holder": "bh-3"}');


--
-- Data for Name: locker_locks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_locks VALUES ('batch-05', 'bk-5', '{"bh-5": {"count": 1, "acquired": "2026-11-28T01:33:46.683377Z"}}', 22, '2026-11-28 01:33:46.683377+00', '2026-11-28 01:33:46.683377+00');
INSERT INTO locker_locks VALUES ('batch-06', 'bk-6', '{"bh-6": {"count": 1, "expires": "2036-11-25T01:33:46.6882Z", "acquired": "2026-11-28T01:33:46.6882Z"}}', 23, '2026-11-28 01:33:46.6882+00', '2026-11-28 01:33:46.6882+00');
INSERT INTO locker_locks VALUES ('batch-07', 'bk-7', '{"bh-7": {"count": 1, "acquired": "2026-11-28T01:33:46.692611Z"}}', 24, '2026-11-28 01:33:46.692611+00', '2026-11-28 01:33:46.692611+00');
INSERT INTO locker_locks VALUES ('batch-08', 'bk-8', '{"bh-8": {"count": 1, "expires": "2036-11-25T01:33:46.708373Z", "acquired": "2026-11-28T01:33:46.708373Z"}}', 25, '2026-11-28 01:33:46.708373+00', '2026-11-28 01:33:46.708373+00');
INSERT INTO locker_locks VALUES ('batch-09', 'bk-9', '{"bh-9": {"count": 1, "acquired": "2026-11-28T01:33:46.720001Z"}}', 26, '2026-11-28 01:33:46.720001+00', '2026-11-28 01:33:46.720001+00');
INSERT INTO locker_locks VALUES ('batch-10', 'bk-10', '{"bh-10": {"count": 1, "expires": "2036-11-25T01:33:46.785182Z", "acquired": "2026-11-28T01:33:46.785182Z"}}', 27, '2026-11-28 01:33:46.785182+00', '2026-11-28 01:33:46.785182+00');
INSERT INTO locker_locks VALUES ('batch-11', 'bk-11', '{"bh-11": {"count": 1, "acquired": "2026-11-28T01:33:46.797207Z"}}', 28, '2026-11-28 01:33:46.797207+00', '2026-11-28 01:33:46.797207+00');
INSERT INTO locker_locks VALUES ('deploy-prod', 'prod-7f3a', '{"ci-worker-1": {"count": 4, "expires": "2036-11-25T01:33:46.917423Z", "acquired": "2026-11-28T01:33:46.105333Z"}}', 1, '2026-11-28 01:33:46.105333+00', '2026-11-28 01:33:46.917423+00');
INSERT INTO locker_locks VALUES ('db-migrations', 'readers', '{"reader-1": {"count": 1, "expires": "2036-11-25T01:33:46.18245Z", "acquired": "2026-11-28T01:33:46.18245Z"}, "reader-2": {"count": 2, "expires": "2036-11-25T01:33:46.318159Z", "acquired": "2026-11-28T01:33:46.249915Z"}}', 2, '2026-11-28 01:33:46.18245+00', '2026-11-28 01:33:46.921703+00');
INSERT INTO locker_locks VALUES ('fence-mover', 'k-after-snapshot', '{"later": {"count": 1, "expires": "2036-11-25T01:33:46.929616Z", "acquired": "2026-11-28T01:33:46.929616Z"}}', 29, '2026-11-28 01:33:46.929616+00', '2026-11-28 01:33:46.929616+00');
INSERT INTO locker_locks VALUES ('freed-after-hold', '', 'null', 9, NULL, '2026-11-28 01:33:46.562776+00');
INSERT INTO locker_locks VALUES ('log-only-0', 'lk-0', '{"lh-0": {"count": 1, "acquired": "2026-11-28T01:33:46.93512Z"}}', 30, '2026-11-28 01:33:46.93512+00', '2026-11-28 01:33:46.93512+00');
INSERT INTO locker_locks VALUES ('forced', '', 'null', 10, NULL, '2026-11-28 01:33:46.572434+00');
INSERT INTO locker_locks VALUES ('café ☕ ünïcode', 'ключ', '{"持有者": {"count": 1, "acquired": "2026-11-28T01:33:46.587353Z"}}', 11, '2026-11-28 01:33:46.587353+00', '2026-11-28 01:33:46.587353+00');
INSERT INTO locker_locks VALUES ('deploys/prod', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:46.58992Z"}}', 12, '2026-11-28 01:33:46.58992+00', '2026-11-28 01:33:46.58992+00');
INSERT INTO locker_locks VALUES ('..', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:46.592605Z"}}', 13, '2026-11-28 01:33:46.592605+00', '2026-11-28 01:33:46.592605+00');
INSERT INTO locker_locks VALUES ('what?#', 'odd', '{"odd-holder": {"count": 1, "acquired": "2026-11-28T01:33:46.623342Z"}}', 14, '2026-11-28 01:33:46.623342+00', '2026-11-28 01:33:46.623342+00');
INSERT INTO locker_locks VALUES ('leased', 'lease', '{"renewer": {"count": 1, "expires": "2036-11-25T01:33:46.635455Z", "acquired": "2026-11-28T01:33:46.628567Z"}}', 15, '2026-11-28 01:33:46.628567+00', '2026-11-28 01:33:46.635455+00');
INSERT INTO locker_locks VALUES ('no-lease', 'forever', '{"forever": {"count": 1, "acquired": "2026-11-28T01:33:46.64081Z"}}', 16, '2026-11-28 01:33:46.64081+00', '2026-11-28 01:33:46.64081+00');
INSERT INTO locker_locks VALUES ('batch-04', 'bk-4', '{"bh-4": {"count": 1, "expires": "2036-11-25T01:33:46.679696Z", "acquired": "2026-11-28T01:33:46.679696Z"}}', 21, '2026-11-28 01:33:46.679696+00', '2026-11-28 01:33:46.679696+00');
INSERT INTO locker_locks VALUES ('log-only-1', 'lk-1', '{"lh-1": {"count": 1, "acquired": "2026-11-28T01:33:46.939419Z"}}', 31, '2026-11-28 01:33:46.939419+00', '2026-11-28 01:33:46.939419+00');
INSERT INTO locker_locks VALUES ('log-only-2', 'lk-2', '{"lh-2": {"count": 1, "acquired": "2026-11-28T01:33:46.942346Z"}}', 32, '2026-11-28 01:33:46.942346+00', '2026-11-28 01:33:46.942346+00');
INSERT INTO locker_locks VALUES ('batch-00', '', 'null', 17, NULL, '2026-11-28 01:33:46.94511+00');
INSERT INTO locker_locks VALUES ('batch-01', '', 'null', 18, NULL, '2026-11-28 01:33:46.94749+00');
INSERT INTO locker_locks VALUES ('batch-02', '', 'null', 19, NULL, '2026-11-28 01:33:46.949953+00');
INSERT INTO locker_locks VALUES ('batch-03', '', 'null', 20, NULL, '2026-11-28 01:33:46.953473+00');


--
-- Data for Name: locker_schema; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO locker_schema VALUES (1);


--
-- Data for Name: locker_waiters; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: locker_fence; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_fence', 32, true);


--
-- Name: locker_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('locker_history_id_seq', 54, true);


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


