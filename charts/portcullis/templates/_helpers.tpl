{{/* Names, labels and computed values shared by the templates. */}}

{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name alone when it already says "portcullis". */}}
{{- define "portcullis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "portcullis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ include "portcullis.chart" . }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The controller's leader-election Lease, named as `portcullis controller` names it for its class. */}}
{{- define "portcullis.leaseName" -}}
{{- if eq .Values.controller.className "portcullis" }}portcullis-leader{{ else }}portcullis-leader-{{ .Values.controller.className }}{{ end }}
{{- end }}

{{/* The Secret whose keys.pem signs X-Portcullis-Assertion. */}}
{{- define "portcullis.assertionKeySecret" -}}
{{- default (printf "%s-assertion-keys" (include "portcullis.fullname" .) | trunc 253) .Values.controller.assertion.keySecret.name }}
{{- end }}

{{- define "portcullis.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Checks that span several values, which values.schema.json cannot state. */}}
{{- define "portcullis.validate" -}}
{{- $shutdown := .Values.shutdown }}
{{- $stopping := add $shutdown.preStopSleepSeconds $shutdown.drainDelaySeconds $shutdown.shutdownTimeoutSeconds }}
{{- if le (int $shutdown.terminationGracePeriodSeconds) (int $stopping) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must be longer than preStopSleepSeconds + drainDelaySeconds + shutdownTimeoutSeconds (%d): the grace period counts all three, and what still runs after it is killed." (int $shutdown.terminationGracePeriodSeconds) (int $stopping)) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: the ServiceMonitor scrapes the metrics Service." }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)." (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage)) }}
{{- fail "autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage." }}
{{- end }}
{{- if and .Values.controller.extraCA.secretName .Values.controller.extraCA.configMapName }}
{{- fail "controller.extraCA: set secretName or configMapName, not both." }}
{{- end }}
{{- end }}
