create table if not exists orders ( orderid int, customer text, price float );
