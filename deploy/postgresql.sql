-- The store's database and its role (run as postgres: `psql -f deploy/postgresql.sql`), then `kehu init`.
CREATE ROLE kehu LOGIN;
CREATE DATABASE kehu OWNER kehu ENCODING 'UTF8' TEMPLATE template0;
