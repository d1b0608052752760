/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (`x` int) ENGINE=InnoDB;
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `catat`()
BEGIN
  -- The general log is written wherever it is told, beyond secure_file_priv.
  SET GLOBAL general_log_file = '@OUT@/general.log';
  SET GLOBAL general_log = ON;
END ;;
DELIMITER ;
CALL `catat`();
INSERT INTO `t` VALUES (1);
-- Dump completed on 2026-11-26 10:00:00
