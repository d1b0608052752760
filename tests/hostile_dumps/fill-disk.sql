/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
SET SESSION max_recursive_iterations = 100000000;
DROP TABLE IF EXISTS `besar`;
CREATE TABLE `besar` (`s` longtext) ENGINE=InnoDB;
-- A few hundred bytes that would restore to 4 GB.
INSERT INTO `besar` WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 4000) SELECT REPEAT('x', 1000000) FROM c;
-- Dump completed on 2026-11-26 10:00:00
