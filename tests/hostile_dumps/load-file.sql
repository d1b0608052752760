/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
DROP TABLE IF EXISTS `probe`;
CREATE TABLE `probe` (`x` int) ENGINE=InnoDB;
DROP TABLE IF EXISTS `probe_root`;
CREATE TABLE `probe_root` (`x` int) ENGINE=InnoDB;
DROP TABLE IF EXISTS `control`;
CREATE TABLE `control` (`x` int) ENGINE=InnoDB;
-- As the loading account (no FILE privilege).
INSERT INTO `probe` SELECT 1 FROM DUAL WHERE LOAD_FILE('@SECRET@') IS NOT NULL;
INSERT INTO `control` SELECT 1 FROM DUAL WHERE LOAD_FILE('@SECRET@') IS NULL;
-- As root (FILE), through a definer's procedure: only secure_file_priv stands in the way.
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `baca`()
BEGIN
  INSERT INTO `probe_root` SELECT 1 FROM DUAL WHERE LOAD_FILE('@SECRET@') IS NOT NULL;
  INSERT INTO `probe_root` SELECT 1 FROM DUAL WHERE LOAD_FILE('@ROOTSECRET@') IS NOT NULL;
END ;;
DELIMITER ;
CALL `baca`();
-- Dump completed on 2026-11-26 10:00:00
