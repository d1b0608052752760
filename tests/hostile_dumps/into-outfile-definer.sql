/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (`x` int) ENGINE=InnoDB;
INSERT INTO `t` VALUES (1),(2);
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `tulis`()
BEGIN
  SELECT '* * * * * root /bin/sh -c id' INTO OUTFILE '@OUT@/outfile';
END ;;
DELIMITER ;
-- As root, which has FILE: only secure_file_priv stands in the way.
CALL `tulis`();
-- Dump completed on 2026-11-26 10:00:00
