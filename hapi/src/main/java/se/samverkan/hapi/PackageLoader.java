package se.samverkan.hapi;

import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Installs a local NPM package of conformance resources at start-up, when one is named by
 * {@code samverkan.hapi.package} (a .tgz path) with its {@code samverkan.hapi.package-name} and
 * {@code -version}. Dependencies are never fetched: this machine reaches no package server, and
 * core R4 is already in HAPI. HAPI's installer generates snapshots for differential profiles.
 */
@Configuration
public class PackageLoader {
	private static final Logger LOG = LoggerFactory.getLogger(PackageLoader.class);

	@Bean
	public ApplicationRunner installLocalPackage(
			IPackageInstallerSvc installer,
			@Value("${samverkan.hapi.package:}") String packagePath,
			@Value("${samverkan.hapi.package-name:}") String name,
			@Value("${samverkan.hapi.package-version:}") String version) {
		return args -> {
			if (packagePath.isBlank()) {
				return;
			}
			PackageInstallationSpec spec = new PackageInstallationSpec()
					.setName(name)
					.setVersion(version)
					.setPackageContents(Files.readAllBytes(Path.of(packagePath)))
					.setInstallMode(PackageInstallationSpec.InstallModeEnum.STORE_AND_INSTALL)
					.setFetchDependencies(false);
			PackageInstallOutcomeJson outcome = installer.install(spec);
			LOG.info("installed package {}#{}: {}", name, version, outcome.getResourcesInstalled());
		};
	}
}
