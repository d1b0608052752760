/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
DROP TABLE IF EXISTS `t`;
-- The table's file outside the data directory, where secure_file_priv does not look.
CREATE TABLE `t` (`x` int) ENGINE=InnoDB DATA DIRECTORY='@OUT@';
INSERT INTO `t` VALUES (1);
-- Dump completed on 2026-11-26 10:00:00
