DROP TABLE jobs_buffer_settings;
DROP TABLE jobs_buffer_items;
